package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CloneStatusTest {
    /** What {@code dmsetup status} printed for a clone device (64-sector regions, no_hydration) in a test guest. */
    static final String SEEN = "0 65536 clone 8 6/1024 64 0/1024 0 1 no_hydration 4 hydration_threshold 1"
            + " hydration_batch_size 1 rw";

    @Test
    void parsesTheLineSeenInAGuest() {
        CloneStatus s = CloneStatus.parse(SEEN + "\n");
        assertThat(s).isEqualTo(new CloneStatus(65536, 64, 0, 1024, 0, false, "rw"));
        assertThat(s.progress()).isZero();
        assertThat(s.fullyHydrated()).isFalse();
        assertThat(s.failed()).isFalse();
    }

    @Test
    void hydratingAndDone() {
        CloneStatus mid = CloneStatus.parse("0 65536 clone 8 6/1024 64 512/1024 16 0 4 hydration_threshold 64"
                + " hydration_batch_size 16 rw");
        assertThat(mid.hydrationEnabled()).isTrue();
        assertThat(mid.hydratingRegions()).isEqualTo(16);
        assertThat(mid.progress()).isEqualTo(0.5);
        CloneStatus done = CloneStatus.parse("0 65536 clone 8 6/1024 64 1024/1024 0 0 4 hydration_threshold 64"
                + " hydration_batch_size 16 rw");
        assertThat(done.fullyHydrated()).isTrue();
        assertThat(done.progress()).isEqualTo(1.0);
    }

    @Test
    void readOnlyMetadataIsAFailure() {
        assertThat(CloneStatus.parse(SEEN.replace(" rw", " ro")).failed()).isTrue();
    }

    @Test
    void rejectsOtherTargetsAndErrorStates() {
        assertThatThrownBy(() -> CloneStatus.parse("0 65536 linear")).hasMessageContaining("not a dm-clone");
        assertThatThrownBy(() -> CloneStatus.parse("0 65536 clone Fail")).hasMessageContaining("error state");
        assertThatThrownBy(() -> CloneStatus.parse("0 65536 clone 8 6/1024 64 x/1024 0 0 0 0 rw"))
                .hasMessageContaining("cannot parse");
    }
}
