package io.dlsm.backend.metrics;

import io.dlsm.backend.migration.Migration;
import io.dlsm.backend.migration.MigrationPhase;
import io.dlsm.backend.migration.MigrationService;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.node.NodeState;
import io.dlsm.backend.volume.VolumeService;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * Gauges over the control plane's state, computed at scrape time. Labels are bounded sets
 * (phases, node states); per-migration numbers are summed over the unfinished migrations
 * rather than labelled by id, which would grow without bound.
 */
public final class ControlPlaneMetrics {

    private ControlPlaneMetrics() {
    }

    public static void bind(MeterRegistry registry, NodeRegistry nodes, VolumeService volumes,
                            MigrationService migrations) {
        for (MigrationPhase phase : MigrationPhase.values()) {
            Gauge.builder("dlsm.migrations", migrations,
                            m -> m.list().stream().filter(x -> x.phase() == phase).count())
                    .description("Migrations by phase")
                    .tag("phase", phase.name())
                    .register(registry);
        }
        Gauge.builder("dlsm.migrations.unfinished", migrations, m -> m.unfinished().size())
                .description("Migrations still hydrating or with a step pending")
                .register(registry);
        unfinishedSum(registry, migrations, "dlsm.migration.regions.expected", m -> m.progress().regionsTotal());
        unfinishedSum(registry, migrations, "dlsm.migration.regions.present", m -> m.progress().regionsPresent());
        unfinishedSum(registry, migrations, "dlsm.migration.rate.bytes.per.second",
                m -> m.progress().rateBytesPerSecond());
        unfinishedSum(registry, migrations, "dlsm.migration.wire.bytes", m -> m.progress().wireBytesReceived());
        for (NodeState state : NodeState.values()) {
            Gauge.builder("dlsm.nodes", nodes, n -> n.list().stream().filter(x -> x.state() == state).count())
                    .description("Registered nodes by state")
                    .tag("state", state.name())
                    .register(registry);
        }
        Gauge.builder("dlsm.volumes", volumes, v -> v.list().size())
                .description("Volumes known to the backend")
                .register(registry);
    }

    private static void unfinishedSum(MeterRegistry registry, MigrationService migrations, String name,
                                      ToDoubleFunction<Migration> value) {
        Gauge.builder(name, migrations,
                        s -> s.list().stream().filter(m -> !m.phase().terminal()).mapToDouble(value).sum())
                .description("Sum over unfinished migrations of " + name.toLowerCase(Locale.ROOT))
                .register(registry);
    }
}
