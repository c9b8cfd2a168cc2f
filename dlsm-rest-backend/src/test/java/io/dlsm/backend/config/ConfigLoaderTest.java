package io.dlsm.backend.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    @TempDir
    Path dir;

    @Test
    void readsEveryKeyFromTheFile() throws Exception {
        Path file = write("listen=0.0.0.0:7900\nstate-dir=/var/lib/dlsm\ntoken-file=/etc/dlsm/token\n");

        BackendConfig config = ConfigLoader.load(new CliOptions(null, null, null, file));

        assertThat(config).isEqualTo(new BackendConfig(new ListenAddress("0.0.0.0", 7900),
                Path.of("/var/lib/dlsm"), Optional.of(Path.of("/etc/dlsm/token"))));
    }

    @Test
    void flagsOverrideTheFile() throws Exception {
        Path file = write("listen=0.0.0.0:7900\nstate-dir=/var/lib/dlsm\ntoken-file=/etc/dlsm/token\n");

        BackendConfig config = ConfigLoader.load(
                new CliOptions("127.0.0.1:0", Path.of("/tmp/state"), Path.of("/tmp/token"), file));

        assertThat(config).isEqualTo(new BackendConfig(new ListenAddress("127.0.0.1", 0),
                Path.of("/tmp/state"), Optional.of(Path.of("/tmp/token"))));
    }

    @Test
    void relativePathsInTheFileAreRelativeToTheFile() throws Exception {
        Path file = write("state-dir=state\n");

        BackendConfig config = ConfigLoader.load(new CliOptions(null, null, null, file));

        assertThat(config.stateDir()).isEqualTo(dir.toAbsolutePath().resolve("state"));
        assertThat(config.tokenFile()).isEmpty();
        assertThat(config.listen()).isEqualTo(BackendConfig.DEFAULT_LISTEN);
    }

    @Test
    void worksWithoutAFile() throws Exception {
        BackendConfig config = ConfigLoader.load(new CliOptions(null, Path.of("s"), null, null));

        assertThat(config.stateDir()).isEqualTo(Path.of("s"));
    }

    @Test
    void unknownKeyIsAnError() throws IOException {
        Path file = write("state-dir=/x\nstatedir=/y\n");

        assertThatThrownBy(() -> ConfigLoader.load(new CliOptions(null, null, null, file)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("[statedir]");
    }

    @Test
    void stateDirIsRequired() {
        assertThatThrownBy(() -> ConfigLoader.load(CliOptions.none()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--state-dir");
    }

    @Test
    void missingFileIsAnError() {
        Path missing = dir.resolve("missing.properties");

        assertThatThrownBy(() -> ConfigLoader.load(new CliOptions(null, null, null, missing)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("missing.properties");
    }

    private Path write(String content) throws IOException {
        return Files.writeString(dir.resolve("backend.properties"), content);
    }
}
