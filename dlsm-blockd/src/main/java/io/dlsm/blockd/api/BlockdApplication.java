package io.dlsm.blockd.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.dm.CapabilityProbe;
import io.dlsm.blockd.dm.KernelDevices;
import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.dm.NodeKernel;
import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.sink.SinkMetrics;
import io.dlsm.blockd.snapshot.SnapshotStore;
import io.dlsm.blockd.volume.VolumeStore;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Optional;
import org.glassfish.jersey.jackson.JacksonFeature;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.server.ServerProperties;
import org.glassfish.jersey.server.model.Resource;
import org.glassfish.jersey.server.model.ResourceMethod;

/** blockd's control API: resources are plain objects built by the daemon and handed in here. */
public final class BlockdApplication extends ResourceConfig {
    /** Without kernel-path wiring: capabilities are probed, the kernel path is off. */
    public BlockdApplication(VolumeStore volumes, SnapshotStore snapshots, SinkManager sinks,
                             PrometheusMeterRegistry registry, ObjectMapper mapper, Optional<String> token) {
        this(volumes, snapshots, sinks, registry, mapper, token,
                new NodeKernel(() -> CapabilityProbe.forThisNode().probe(), KernelPathSetting.OFF), Optional.empty());
    }

    /** @param devices this node's kernel devices; empty when the kernel path is off */
    public BlockdApplication(VolumeStore volumes, SnapshotStore snapshots, SinkManager sinks,
                             PrometheusMeterRegistry registry, ObjectMapper mapper, Optional<String> token,
                             NodeKernel kernel, Optional<KernelDevices> devices) {
        property(ServerProperties.WADL_FEATURE_DISABLE, true);
        // Jackson's own mappers answer bad JSON in plain text; ours answer in JSON with the field.
        register(JacksonFeature.withoutExceptionMappers());
        register(new Json(mapper));
        register(new VolumeExceptionMapper());
        register(new SinkExceptionMapper());
        register(new KernelDeviceExceptionMapper());
        register(new JsonExceptionMapper());
        register(new WebExceptionMapper());
        token.ifPresent(t -> register(new BearerTokenFilter(t)));
        registerResources(boundTo(new HealthResource()), boundTo(new VolumeResource(volumes, snapshots)),
                boundTo(new SnapshotResource(snapshots)), boundTo(new SinkResource(sinks)),
                boundTo(new MetricsResource(registry, new SinkMetrics(registry), sinks)),
                boundTo(new NodeResource(kernel)), boundTo(new DeviceResource(devices)));
    }

    /**
     * The annotated model of {@code instance}'s class with every method handled by that
     * instance. Registering the instance itself works too, but Jersey then also vets it as a
     * provider and logs a spurious warning (jersey#3700); building the model ourselves keeps
     * plain constructors without an injection binder.
     */
    static Resource boundTo(Object instance) {
        return bind(Resource.from(instance.getClass()), instance);
    }

    private static Resource bind(Resource model, Object instance) {
        Resource.Builder b = Resource.builder(model);
        for (ResourceMethod m : model.getResourceMethods()) {
            b.updateMethod(m).handledBy(instance, m.getInvocable().getHandlingMethod());
        }
        for (Resource child : model.getChildResources()) {
            b.replaceChildResource(child, bind(child, instance));
        }
        return b.build();
    }
}
