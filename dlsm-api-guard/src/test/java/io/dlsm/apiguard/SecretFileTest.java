package io.dlsm.apiguard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SecretFileTest {
    @TempDir
    Path dir;

    @Test
    void madeOnceOwnerOnlyAndReused() throws Exception {
        Path f = dir.resolve("sub/api-token");
        String first = SecretFile.readOrCreate(f);
        assertThat(first).matches("[A-Za-z0-9_-]{43}");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
        assertThat(SecretFile.readOrCreate(f)).isEqualTo(first);
        assertThat(SecretFile.readOrCreate(dir.resolve("other"))).isNotEqualTo(first);
        // No temporary file is left behind.
        try (var files = Files.list(f.getParent())) {
            assertThat(files).containsExactly(f);
        }
    }

    @Test
    void aFileOthersMayReadIsRefused() throws Exception {
        Path f = Files.writeString(dir.resolve("t"), "x\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
        assertThatThrownBy(() -> SecretFile.readOrCreate(f)).hasMessageContaining("chmod 600");
    }

    @Test
    void anEmptyGivenFileIsRefused() throws Exception {
        Path f = Files.writeString(dir.resolve("t"), "\n");
        assertThatThrownBy(() -> SecretFile.read(f)).hasMessageContaining("is empty");
    }
}
