package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TablesTest {
    @Test
    void linearTableIsWholeDeviceOneToOne() {
        assertThat(Tables.linear(32L << 20, "/dev/nbd0")).isEqualTo("0 65536 linear /dev/nbd0 0");
        assertThat(Tables.linear(512, "/dev/loop3")).isEqualTo("0 1 linear /dev/loop3 0");
    }

    @Test
    void cloneTableStartsWithoutHydrationAndCarriesTheTuning() {
        assertThat(Tables.clone(32L << 20, "/dev/vda", "/dev/vdb", "/dev/nbd0", 64, new CloneTuning(1, 1)))
                .isEqualTo("0 65536 clone /dev/vda /dev/vdb /dev/nbd0 64 1 no_hydration"
                        + " 4 hydration_threshold 1 hydration_batch_size 1");
    }

    @Test
    void sizesAndRegionsAreChecked() {
        assertThatThrownBy(() -> Tables.linear(1000, "/dev/nbd0")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("multiple of 512");
        assertThatThrownBy(() -> Tables.linear(0, "/dev/nbd0")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Tables.clone(1 << 20, "m", "d", "s", 96, new CloneTuning(1, 1)))
                .hasMessageContaining("power of two");
        assertThatThrownBy(() -> Tables.clone(1 << 20, "m", "d", "s", 4, new CloneTuning(1, 1)))
                .hasMessageContaining(">= 8 sectors");
    }

    @Test
    void tuningFollowsTheBandwidth() {
        // Unlimited: the kernel's default threshold, batched copies.
        assertThat(CloneTuning.forBandwidth(0, 128)).isEqualTo(new CloneTuning(64, 16));
        // 100 MiB/s, 64 KiB regions: a tenth of a second in flight = 160 regions, batches of 16.
        assertThat(CloneTuning.forBandwidth(100L << 20, 128)).isEqualTo(new CloneTuning(160, 16));
        // 1 MiB/s: 1.6 regions → 1, one region at a time.
        assertThat(CloneTuning.forBandwidth(1L << 20, 128)).isEqualTo(new CloneTuning(1, 1));
        // 10 GiB/s is capped.
        assertThat(CloneTuning.forBandwidth(10L << 30, 128).hydrationThreshold()).isEqualTo(1024);
        assertThat(CloneTuning.forBandwidth(8L << 20, 128).messages())
                .containsExactly("hydration_threshold 12", "hydration_batch_size 3");
        assertThatThrownBy(() -> CloneTuning.forBandwidth(-1, 128)).isInstanceOf(IllegalArgumentException.class);
    }
}
