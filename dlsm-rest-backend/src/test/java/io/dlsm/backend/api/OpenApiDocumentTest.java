package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.backend.server.ApiTestSupport;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import io.dlsm.backend.BackendInfo;
import io.dlsm.backend.auth.TokenCheck;
import io.dlsm.backend.metrics.BackendMetrics;
import io.dlsm.backend.server.BackendApplication;
import io.dlsm.backend.server.BackendBinder;
import org.glassfish.jersey.server.model.Resource;
import org.glassfish.jersey.server.model.ResourceMethod;
import org.junit.jupiter.api.Test;

/** The hand-kept OpenAPI document and the deployed Jersey resources describe the same operations. */
class OpenApiDocumentTest extends ApiTestSupport {

    @Test
    void everyDocumentedOperationExistsAndEveryResourceMethodIsDocumented() throws Exception {
        String text = target("/openapi.json").request().get(String.class);
        JsonNode doc = new ObjectMapper().readTree(text);
        assertThat(doc.path("openapi").asText()).startsWith("3.");

        Set<String> documented = new TreeSet<>();
        for (Iterator<String> paths = doc.path("paths").fieldNames(); paths.hasNext(); ) {
            String path = paths.next();
            doc.path("paths").path(path).fieldNames().forEachRemaining(
                    method -> documented.add(method.toUpperCase(Locale.ROOT) + " " + path));
        }

        Set<String> served = new TreeSet<>();
        BackendApplication app = new BackendApplication(new BackendBinder(new BackendInfo("v", STARTED_AT), clock(),
                new BackendMetrics().registry(), io.dlsm.backend.auth.Authenticator.open(), controlPlane()));
        for (Class<?> c : app.getClasses()) {
            if (c.isAnnotationPresent(jakarta.ws.rs.Path.class)) {
                collect(Resource.from(c), "", served);
            }
        }

        assertThat(documented).isEqualTo(served);
    }

    private static void collect(Resource r, String prefix, Set<String> out) {
        String path = join(prefix, r.getPath());
        for (ResourceMethod m : r.getResourceMethods()) {
            out.add(m.getHttpMethod() + " " + path);
        }
        for (Resource child : r.getChildResources()) {
            collect(child, path, out);
        }
    }

    private static String join(String prefix, String path) {
        if (path == null || path.isEmpty()) {
            return prefix;
        }
        String p = path.startsWith("/") ? path : "/" + path;
        p = p.endsWith("/") && p.length() > 1 ? p.substring(0, p.length() - 1) : p;
        return prefix + p;
    }
}
