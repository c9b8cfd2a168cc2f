package io.dlsm.blockd.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.sink.SinkMetrics;
import io.dlsm.blockd.volume.VolumeStore;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Optional;
import org.glassfish.jersey.jackson.JacksonFeature;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.server.ServerProperties;

/** blockd's control API: resources are plain objects built by the daemon and handed in here. */
public final class BlockdApplication extends ResourceConfig {
    public BlockdApplication(VolumeStore volumes, SinkManager sinks, PrometheusMeterRegistry registry,
                             ObjectMapper mapper, Optional<String> token) {
        property(ServerProperties.WADL_FEATURE_DISABLE, true);
        // Jackson's own mappers answer bad JSON in plain text; ours answer in JSON with the field.
        register(JacksonFeature.withoutExceptionMappers());
        register(new Json(mapper));
        register(new VolumeExceptionMapper());
        register(new SinkExceptionMapper());
        register(new JsonExceptionMapper());
        register(new WebExceptionMapper());
        token.ifPresent(t -> register(new BearerTokenFilter(t)));
        registerInstances(new VolumeResource(volumes), new SinkResource(sinks),
                new MetricsResource(registry, new SinkMetrics(registry), sinks));
    }
}
