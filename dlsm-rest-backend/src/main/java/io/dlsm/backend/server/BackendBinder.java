package io.dlsm.backend.server;

import io.dlsm.backend.BackendInfo;
import io.dlsm.backend.auth.Authenticator;
import io.dlsm.backend.migration.CrossNodeCopies;
import io.dlsm.backend.migration.MigrationService;
import io.dlsm.backend.node.NodeRegistry;
import io.dlsm.backend.snapshot.SnapshotService;
import io.dlsm.backend.volume.VolumeService;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import org.glassfish.hk2.utilities.binding.AbstractBinder;

/**
 * The one place where HK2 learns about the backend's services. Resources and providers get
 * them through {@code @Inject} constructors; a new service (node registry, state store, ...)
 * is built by the caller and bound here.
 */
public final class BackendBinder extends AbstractBinder {

    private final BackendInfo info;
    private final Clock clock;
    private final PrometheusMeterRegistry meters;
    private final Authenticator authenticator;
    private final ControlPlane controlPlane;

    public BackendBinder(BackendInfo info, Clock clock, PrometheusMeterRegistry meters, Authenticator authenticator,
                         ControlPlane controlPlane) {
        this.info = info;
        this.clock = clock;
        this.meters = meters;
        this.authenticator = authenticator;
        this.controlPlane = controlPlane;
    }

    @Override
    protected void configure() {
        bind(info).to(BackendInfo.class);
        bind(clock).to(Clock.class);
        // Scraping needs the Prometheus type; everything that only records meters asks for MeterRegistry.
        bind(meters).to(PrometheusMeterRegistry.class).to(MeterRegistry.class);
        bind(authenticator).to(Authenticator.class);
        bind(controlPlane.nodes()).to(NodeRegistry.class);
        bind(controlPlane.volumes()).to(VolumeService.class);
        bind(controlPlane.migrations()).to(MigrationService.class);
        bind(controlPlane.snapshots()).to(SnapshotService.class);
        bind(controlPlane.copies()).to(CrossNodeCopies.class);
    }
}
