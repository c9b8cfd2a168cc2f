package io.dlsm.blockd.api;

import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.sink.SinkMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;

/** Prometheus exposition of the daemon's and its sinks' metrics. */
@Path("/metrics")
public final class MetricsResource {
    private final PrometheusMeterRegistry registry;
    private final SinkMetrics sinkMetrics;
    private final SinkManager sinks;

    public MetricsResource(PrometheusMeterRegistry registry, SinkMetrics sinkMetrics, SinkManager sinks) {
        this.registry = registry;
        this.sinkMetrics = sinkMetrics;
        this.sinks = sinks;
    }

    @GET
    @Produces("text/plain; version=0.0.4; charset=utf-8")
    public String scrape() {
        sinkMetrics.refresh(sinks.list());
        return registry.scrape();
    }
}
