package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.tls.TlsMode;
import io.dlsm.blockd.tls.TlsSettings;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class NbdClientDevicesTest {
    @Test
    void withoutTlsTheKernelsConnectionIsPlainNbd() throws Exception {
        RecordingCommandRunner runner = new RecordingCommandRunner();
        new NbdClientDevices(runner).connect("/dev/nbd3", "10.0.0.2", 10809, "vol@abc");
        assertThat(runner.take()).containsExactly("nbd-client 10.0.0.2 10809 /dev/nbd3 -N vol@abc");
    }

    @Test
    void withTlsNbdClientGetsTheNodesCertificateAndChecksTheServersName() throws Exception {
        RecordingCommandRunner runner = new RecordingCommandRunner();
        TlsSettings tls = new TlsSettings(Path.of("/etc/dlsm/node-cert.pem"), Path.of("/etc/dlsm/node-key.pem"),
                Path.of("/etc/dlsm/ca-cert.pem"), TlsMode.REQUIRE, List.of());
        new NbdClientDevices(runner, Optional.of(tls)).connect("/dev/nbd3", "10.0.0.2", 10809, "vol@abc");
        assertThat(runner.take()).containsExactly("nbd-client 10.0.0.2 10809 /dev/nbd3 -N vol@abc"
                + " -certfile /etc/dlsm/node-cert.pem -keyfile /etc/dlsm/node-key.pem"
                + " -cacertfile /etc/dlsm/ca-cert.pem -tlshostname 10.0.0.2");
    }
}
