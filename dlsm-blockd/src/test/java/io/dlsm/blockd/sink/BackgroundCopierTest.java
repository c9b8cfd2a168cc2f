package io.dlsm.blockd.sink;

import static org.assertj.core.api.Assertions.assertThat;

import io.dlsm.blockd.block.Extent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The copier's pure decisions: what crosses the wire and how much may be in flight. */
class BackgroundCopierTest {

    @Test
    void inFlightWindowFollowsTheLinkBetweenOneBatchAndTheFullPipeline() {
        // 200 Mbit/s: 25 MB/s x 50 ms = 1.25 MB, not the 16 MiB a fast link gets.
        assertThat(BackgroundCopier.windowFor(25e6)).isEqualTo(1_250_000);
        assertThat(BackgroundCopier.windowFor(0)).isEqualTo(BackgroundCopier.MIN_WINDOW_BYTES);
        assertThat(BackgroundCopier.windowFor(1e6)).isEqualTo(BackgroundCopier.MIN_WINDOW_BYTES);
        assertThat(BackgroundCopier.windowFor(2e9)).isEqualTo(BackgroundCopier.MAX_WINDOW_BYTES);
        assertThat(BackgroundCopier.MIN_WINDOW_BYTES).isGreaterThanOrEqualTo(BackgroundCopier.BATCH_BYTES);
    }

    @Test
    void onlyDataBetweenZeroExtentsIsFetched() {
        List<Extent> zeroes = List.of(Extent.hole(0, 4096), Extent.hole(65536, 65536), Extent.hole(300_000, 10));
        List<long[]> data = BackgroundCopier.dataRanges(0, 262_144, zeroes);
        assertThat(data).containsExactly(new long[] {4096, 65536}, new long[] {131072, 262144});
        assertThat(BackgroundCopier.dataRanges(65536, 131072, zeroes)).isEmpty();
        assertThat(BackgroundCopier.dataRanges(0, 4096, List.of())).containsExactly(new long[] {0, 4096});
    }
}
