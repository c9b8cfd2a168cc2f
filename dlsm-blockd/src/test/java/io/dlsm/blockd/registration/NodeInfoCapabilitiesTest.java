package io.dlsm.blockd.registration;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.dm.KernelPathMode;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The capabilities blockd registers with: the mode in force, in the backend's contract names. */
class NodeInfoCapabilitiesTest {
    @Test
    void eachModeMapsToTheContractsCapabilities() {
        assertThat(BackendRegistration.Capabilities.of(KernelPathMode.USER_SPACE_ONLY))
                .isEqualTo(new BackendRegistration.Capabilities(false, false, true));
        assertThat(BackendRegistration.Capabilities.of(KernelPathMode.LINEAR_OVER_NBD))
                .isEqualTo(new BackendRegistration.Capabilities(true, false, true));
        assertThat(BackendRegistration.Capabilities.of(KernelPathMode.DM_CLONE))
                .isEqualTo(new BackendRegistration.Capabilities(true, true, true));
    }

    @Test
    void serialisedAsTheBackendReadsThem() throws Exception {
        BackendRegistration.NodeInfo n = BackendRegistration.NodeInfo.of("n1", new InetSocketAddress("127.0.0.1", 7000),
                new InetSocketAddress("127.0.0.1", 7001));
        assertThat(n.capabilities()).isEqualTo(BackendRegistration.Capabilities.USER_SPACE_ONLY);
        String json = Json.newMapper().writeValueAsString(Map.of("capabilities",
                n.withCapabilities(BackendRegistration.Capabilities.of(KernelPathMode.LINEAR_OVER_NBD)).capabilities()));
        assertThat(Json.newMapper().readTree(json).get("capabilities").toString())
                .isEqualTo("{\"deviceMapper\":true,\"dmClone\":false,\"nbd\":true}");
    }

    @Test
    void aWildcardListenerCannotBeRegistered() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BackendRegistration.NodeInfo.of("n1",
                        new InetSocketAddress("127.0.0.1", 7000), new InetSocketAddress("0.0.0.0", 10809)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--nbd-listen 0.0.0.0:10809 is a wildcard address")
                .hasMessageContaining("listen on this node's own address");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BackendRegistration.NodeInfo.of("n1",
                        new InetSocketAddress("::", 7000), new InetSocketAddress("127.0.0.1", 10809)))
                .hasMessageContaining("--api-listen");
    }
}
