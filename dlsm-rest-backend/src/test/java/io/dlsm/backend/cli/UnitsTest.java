package io.dlsm.backend.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class UnitsTest {

    @ParameterizedTest
    @CsvSource({
        "4096, 4096",
        "512M, 536870912",
        "10G, 10737418240",
        "10g, 10737418240",
        "1.5GiB, 1610612736",
        "1.5K, 1536",
        "10GB, 10000000000",
        "2 TiB, 2199023255552",
        "0, 0",
        "7B, 7"
    })
    void parsesSizes(String text, long bytes) {
        assertThat(Units.parseSize(text)).isEqualTo(bytes);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "G", "10X", "-1G", "0.3", "1e3", "10 G B", "99999999999T"})
    void rejectsWhatIsNotASize(String text) {
        assertThatThrownBy(() -> Units.parseSize(text)).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @CsvSource({"100M, 104857600", "100M/s, 104857600", "1G/s, 1073741824", "50MB/s, 50000000", "0, 0"})
    void parsesRates(String text, long bytesPerSecond) {
        assertThat(Units.parseRate(text)).isEqualTo(bytesPerSecond);
    }

    @Test
    void rateErrorSaysRate() {
        assertThatThrownBy(() -> Units.parseRate("fast")).hasMessageContaining("not a rate");
    }

    @ParameterizedTest
    @CsvSource({
        "0, 0 B",
        "512, 512 B",
        "1023, 1023 B",
        "1024, 1.0 KiB",
        "1610612736, 1.5 GiB",
        "536870912, 512.0 MiB",
        "10737418240, 10.0 GiB"
    })
    void formatsBytes(long bytes, String text) {
        assertThat(Units.formatBytes(bytes)).isEqualTo(text);
    }

    @Test
    void formatsRatesEtasAndSeconds() {
        assertThat(Units.formatRate(12.9 * 1024 * 1024)).isEqualTo("12.9 MiB/s");
        assertThat(Units.formatEta(null)).isEqualTo("-");
        assertThat(Units.formatEta(-1.0)).isEqualTo("-");
        assertThat(Units.formatEta(42.4)).isEqualTo("42s");
        assertThat(Units.formatEta(65.0)).isEqualTo("1m05s");
        assertThat(Units.formatEta(7620.0)).isEqualTo("2h07m");
        assertThat(Units.formatSeconds(1.234)).isEqualTo("1.23 s");
    }
}
