package io.dlsm.backend.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Inject;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.ext.Provider;
import java.util.List;
import org.glassfish.jersey.server.ExtendedUriInfo;
import org.glassfish.jersey.uri.UriTemplate;

/**
 * Counts every HTTP response as {@code dlsm_http_requests_total{method, uri, status}}.
 * {@code uri} is the matched route template, never the raw path: raw paths (volume ids,
 * scanners probing random URLs) would give Prometheus unbounded label cardinality.
 */
@Provider
public final class RequestMetricsFilter implements ContainerResponseFilter {

    static final String METER = "dlsm.http.requests";
    static final String UNMATCHED = "UNMATCHED";

    private final MeterRegistry registry;

    @Inject
    public RequestMetricsFilter(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void filter(ContainerRequestContext request, ContainerResponseContext response) {
        Counter.builder(METER)
                .description("HTTP requests answered by the API")
                .tag("method", request.getMethod())
                .tag("uri", routeOf(request))
                .tag("status", Integer.toString(response.getStatus()))
                .register(registry)
                .increment();
    }

    private static String routeOf(ContainerRequestContext request) {
        if (!(request.getUriInfo() instanceof ExtendedUriInfo info) || info.getMatchedModelResource() == null) {
            return UNMATCHED;
        }
        StringBuilder route = new StringBuilder();
        // Jersey lists matched templates innermost first.
        List<UriTemplate> templates = info.getMatchedTemplates();
        for (int i = templates.size() - 1; i >= 0; i--) {
            String part = templates.get(i).getTemplate();
            if (!part.startsWith("/") && !route.isEmpty() && route.charAt(route.length() - 1) != '/') {
                route.append('/');
            }
            route.append(part);
        }
        return route.isEmpty() ? UNMATCHED : route.toString();
    }
}
