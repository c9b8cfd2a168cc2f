package io.dlsm.backend.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenCheckTest {

    @TempDir
    Path dir;

    @Test
    void fileTokenIgnoresTrailingNewline() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "abc123\n");

        TokenCheck check = TokenCheck.fromFile(file);

        assertThat(check.enabled()).isTrue();
        assertThat(check.matches("abc123")).isTrue();
        assertThat(check.matches("abc123\n")).isFalse();
        assertThat(check.matches("abc12")).isFalse();
        assertThat(check.matches(null)).isFalse();
    }

    @Test
    void emptyTokenFileIsRefused() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), " \n");

        assertThatThrownBy(() -> TokenCheck.fromFile(file)).isInstanceOf(IOException.class).hasMessageContaining("empty");
    }

    @Test
    void disabledCheckLetsEverythingThrough() {
        TokenCheck check = TokenCheck.disabled();

        assertThat(check.enabled()).isFalse();
        assertThat(check.matches(null)).isTrue();
    }
}
