package io.dlsm.blockd.sink;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.List;
import java.util.function.ToDoubleFunction;

/** Per-sink gauges for Prometheus, refreshed from the sinks' status at each scrape. */
public final class SinkMetrics {
    private record Series(MultiGauge gauge, ToDoubleFunction<SinkStatus> value) {
    }

    private final List<Series> series;

    public SinkMetrics(MeterRegistry registry) {
        series = List.of(
                series(registry, "dlsm_sink_regions_total", "Regions of the volume", s -> s.regionsTotal()),
                series(registry, "dlsm_sink_regions_present", "Regions held locally", s -> s.regionsPresent()),
                series(registry, "dlsm_sink_progress_ratio", "Regions present / total", SinkStatus::progress),
                series(registry, "dlsm_sink_fetched_on_demand_bytes", "Bytes fetched because the guest read them",
                        s -> s.bytesFetchedOnDemand()),
                series(registry, "dlsm_sink_copied_background_bytes", "Bytes pulled by the background copier",
                        s -> s.bytesCopiedInBackground()),
                series(registry, "dlsm_sink_skipped_hole_bytes", "Bytes never transferred: holes at the source",
                        s -> s.bytesSkippedAsHoles()),
                series(registry, "dlsm_sink_overwritten_never_fetched_bytes",
                        "Bytes never transferred: overwritten here first", s -> s.bytesOverwrittenNeverFetched()),
                series(registry, "dlsm_sink_wire_received_bytes", "Data bytes received from the source",
                        s -> s.wireBytesReceived()),
                series(registry, "dlsm_sink_rate_bytes_per_second", "Recent hydration rate",
                        SinkStatus::rateBytesPerSecond),
                series(registry, "dlsm_sink_regions_at_risk", "Regions only on an unreachable source",
                        s -> s.regionsAtRisk()));
    }

    private static Series series(MeterRegistry registry, String name, String help, ToDoubleFunction<SinkStatus> f) {
        return new Series(MultiGauge.builder(name).description(help).register(registry), f);
    }

    public void refresh(List<SinkStatus> sinks) {
        for (Series s : series) {
            s.gauge().register(sinks.stream()
                    .map(st -> MultiGauge.Row.of(Tags.of("sink", st.name(), "state", st.state().name()),
                            s.value().applyAsDouble(st)))
                    .toList(), true);
        }
    }
}
