package io.dlsm.backend.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ListenAddressTest {

    @ParameterizedTest
    @CsvSource({
        "127.0.0.1:7800, 127.0.0.1, 7800",
        "localhost:0, localhost, 0",
        "[::1]:8080, ::1, 8080",
    })
    void parsesAndPrintsBack(String text, String host, int port) throws ConfigException {
        ListenAddress address = ListenAddress.parse(text);

        assertThat(address).isEqualTo(new ListenAddress(host, port));
        assertThat(address.hostPort()).isEqualTo(text);
    }

    @ParameterizedTest
    @ValueSource(strings = {"7800", ":7800", "host:", "host:http", "host:70000", "::1:80", "host:-1"})
    void rejectsMalformed(String text) {
        assertThatThrownBy(() -> ListenAddress.parse(text)).isInstanceOf(ConfigException.class);
    }
}
