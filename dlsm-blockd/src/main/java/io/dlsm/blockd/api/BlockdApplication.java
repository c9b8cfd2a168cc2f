package io.dlsm.blockd.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.volume.VolumeStore;
import java.util.Optional;
import org.glassfish.jersey.jackson.JacksonFeature;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.server.ServerProperties;

/** blockd's control API: resources are plain objects built by the daemon and handed in here. */
public final class BlockdApplication extends ResourceConfig {
    public BlockdApplication(VolumeStore volumes, ObjectMapper mapper, Optional<String> token) {
        property(ServerProperties.WADL_FEATURE_DISABLE, true);
        // Jackson's own mappers answer bad JSON in plain text; ours answer in JSON with the field.
        register(JacksonFeature.withoutExceptionMappers());
        register(new Json(mapper));
        register(new VolumeExceptionMapper());
        register(new JsonExceptionMapper());
        register(new WebExceptionMapper());
        token.ifPresent(t -> register(new BearerTokenFilter(t)));
        registerInstances(new VolumeResource(volumes));
    }
}
