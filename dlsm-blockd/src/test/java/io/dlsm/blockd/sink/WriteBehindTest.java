package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.volume.FileBlockDevice;
import io.dlsm.blockd.volume.SparseDevices;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Write-behind on a real file of the temp dir's filesystem, residency read with fincore. */
class WriteBehindTest {
    private static final int MIB = 1 << 20;
    private static final int STEPS = 32;

    @TempDir
    Path dir;

    @Test
    void keepsAtMostTheWindowCachedAndDropsTheRestOnFinishWithoutLosingData() throws Exception {
        Path file = dir.resolve("sink.img");
        byte[] data = new byte[STEPS * MIB];
        new Random(7).nextBytes(data);
        try (FileBlockDevice local = SparseDevices.create(file, data.length)) {
            WriteBehind behind = new WriteBehind("s1", local);
            for (int i = 0; i < STEPS; i++) {
                local.write((long) i * MIB, ByteBuffer.wrap(data, i * MIB, MIB), false);
                behind.stored((long) i * MIB, MIB);
            }
            assertThat(SparseDevices.residentBytes(file)).isLessThanOrEqualTo(WriteBehind.WINDOW_BYTES + MIB);

            behind.finish();
            assertThat(SparseDevices.residentBytes(file)).isZero();

            ByteBuffer back = ByteBuffer.allocate(data.length);
            local.read(0, back);
            assertThat(back.array()).isEqualTo(data);
        }
    }
}
