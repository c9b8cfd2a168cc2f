package io.dlsm.backend.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code --etcd-*} options: what selects etcd, and the mistakes refused at startup. */
class EtcdConfigTest {

    @TempDir
    Path dir;

    private static BackendConfig load(EtcdFlags etcd) throws ConfigException {
        return ConfigLoader.load(new CliOptions(null, Path.of("s"), null, null, null, null, etcd));
    }

    private static EtcdFlags endpoints(String urls) {
        return new EtcdFlags(urls, null, null, null, null, null, null);
    }

    @Test
    void withoutEndpointsTheFileStoreStaysTheDefault() throws Exception {
        assertThat(load(EtcdFlags.none()).etcd()).isEmpty();
    }

    @Test
    void endpointsSelectEtcdWithTheDefaultPrefix() throws Exception {
        EtcdOptions etcd = load(endpoints("http://127.0.0.1:2379, http://127.0.0.2:2379")).etcd().orElseThrow();

        assertThat(etcd.endpoints()).containsExactly(URI.create("http://127.0.0.1:2379"),
                URI.create("http://127.0.0.2:2379"));
        assertThat(etcd.prefix()).isEqualTo("/dlsm");
        assertThat(etcd.tls()).isFalse();
    }

    @Test
    void theFileCanSayItAllWithPathsRelativeToIt() throws Exception {
        Path file = Files.writeString(dir.resolve("b.properties"), "state-dir=s\netcd-endpoints=https://e1:2379\n"
                + "etcd-prefix=/site/dlsm\netcd-ca=ca.pem\netcd-cert=c.pem\netcd-key=k.pem\n"
                + "etcd-user=dlsm\netcd-password-file=pw\n");

        EtcdOptions etcd = ConfigLoader.load(new CliOptions(null, null, null, file)).etcd().orElseThrow();

        Path base = dir.toAbsolutePath();
        assertThat(etcd).isEqualTo(new EtcdOptions(List.of(URI.create("https://e1:2379")), "/site/dlsm",
                Optional.of(base.resolve("ca.pem")), Optional.of(base.resolve("c.pem")),
                Optional.of(base.resolve("k.pem")), Optional.of("dlsm"), Optional.of(base.resolve("pw"))));
        assertThat(etcd.tls()).isTrue();
    }

    @Test
    void mistakesAreRefusedWithTheOptionNamed() {
        assertThatThrownBy(() -> load(endpoints("127.0.0.1:2379"))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("--etcd-endpoints").hasMessageContaining("http://127.0.0.1:2379");
        assertThatThrownBy(() -> load(endpoints("ftp://h:1"))).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> load(endpoints("http://h"))).as("no port").isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> load(new EtcdFlags(null, null, Path.of("ca"), null, null, null, null)))
                .hasMessageContaining("need --etcd-endpoints");
        assertThatThrownBy(() -> load(new EtcdFlags("http://h:1", "dlsm/", null, null, null, null, null)))
                .hasMessageContaining("--etcd-prefix");
        assertThatThrownBy(() -> load(new EtcdFlags("https://h:1", null, null, Path.of("c"), null, null, null)))
                .hasMessageContaining("--etcd-cert and --etcd-key go together");
        assertThatThrownBy(() -> load(new EtcdFlags("http://h:1", null, null, null, null, "u", null)))
                .hasMessageContaining("--etcd-user and --etcd-password-file go together");
        // A CA means TLS; a plain-text endpoint beside it would send the credentials in clear.
        assertThatThrownBy(() -> load(new EtcdFlags("https://h:1,http://h:2", null, Path.of("ca"), null, null, null,
                null))).hasMessageContaining("every endpoint must be https://");
        assertThatThrownBy(() -> load(new EtcdFlags("http://h:1", null, null, Path.of("c"), Path.of("k"), null,
                null))).hasMessageContaining("needs https://");
    }
}
