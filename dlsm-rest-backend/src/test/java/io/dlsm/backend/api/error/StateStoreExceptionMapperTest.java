package io.dlsm.backend.api.error;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.backend.state.StateConflictException;
import io.dlsm.backend.state.StateStoreException;
import io.dlsm.backend.state.StateStoreUnavailableException;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a client sees of the store's failures; nothing was acknowledged in any of them. */
class StateStoreExceptionMapperTest {

    private final StateStoreExceptionMapper mapper = new StateStoreExceptionMapper();

    @Test
    void anUnreachableStoreIs503WithRetryAfter() {
        try (Response r = mapper.toResponse(new StateStoreUnavailableException("etcd did not answer", null))) {
            assertThat(r.getStatus()).isEqualTo(503);
            assertThat(r.getHeaderString("Retry-After")).isEqualTo("5");
            assertThat((ApiError) r.getEntity()).isEqualTo(new ApiError("store_unavailable", "etcd did not answer",
                    Map.of()));
        }
    }

    @Test
    void aConflictIs409NamingTheRecord() {
        try (Response r = mapper.toResponse(new StateConflictException("volumes", "v1", "changed by another"))) {
            assertThat(r.getStatus()).isEqualTo(409);
            assertThat((ApiError) r.getEntity()).isEqualTo(new ApiError("conflict", "changed by another",
                    Map.of("kind", "volumes", "id", "v1")));
        }
    }

    @Test
    void aLocalStoreFailureIs500WithItsMessage() {
        try (Response r = mapper.toResponse(new StateStoreException("cannot persist volumes/v1: disk full", null))) {
            assertThat(r.getStatus()).isEqualTo(500);
            assertThat(((ApiError) r.getEntity()).message()).contains("disk full");
        }
    }
}
