package io.dlsm.backend.server;

import io.dlsm.backend.api.HealthResource;
import io.dlsm.backend.api.MetricsResource;
import io.dlsm.backend.api.MigrationResource;
import io.dlsm.backend.api.NodeResource;
import io.dlsm.backend.api.OpenApiResource;
import io.dlsm.backend.api.SnapshotResource;
import io.dlsm.backend.api.VolumeResource;
import io.dlsm.backend.api.ObjectMapperProvider;
import io.dlsm.backend.api.error.ApiExceptionMapper;
import io.dlsm.backend.api.error.JsonProcessingExceptionMapper;
import io.dlsm.backend.api.error.StateStoreExceptionMapper;
import io.dlsm.backend.api.error.UnexpectedExceptionMapper;
import io.dlsm.backend.api.error.WebApplicationExceptionMapper;
import io.dlsm.backend.auth.BearerAuthFilter;
import io.dlsm.backend.metrics.RequestMetricsFilter;
import org.glassfish.jersey.jackson.JacksonFeature;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.server.ServerProperties;

/**
 * The JAX-RS application: every resource and provider is listed here explicitly (no package
 * scanning), so what the API serves is readable in one place.
 */
public final class BackendApplication extends ResourceConfig {

    public BackendApplication(BackendBinder binder) {
        register(binder);

        // Jackson's bundled mappers would answer JSON errors in their own plain-text format.
        register(JacksonFeature.withoutExceptionMappers());
        register(ObjectMapperProvider.class);

        register(BearerAuthFilter.class);
        register(RequestMetricsFilter.class);

        register(ApiExceptionMapper.class);
        register(JsonProcessingExceptionMapper.class);
        register(StateStoreExceptionMapper.class);
        register(WebApplicationExceptionMapper.class);
        register(UnexpectedExceptionMapper.class);

        register(HealthResource.class);
        register(MetricsResource.class);
        register(NodeResource.class);
        register(VolumeResource.class);
        register(SnapshotResource.class);
        register(MigrationResource.class);
        register(OpenApiResource.class);

        // WADL would publish an unauthenticated-looking /application.wadl that nobody uses.
        property(ServerProperties.WADL_FEATURE_DISABLE, true);
    }
}
