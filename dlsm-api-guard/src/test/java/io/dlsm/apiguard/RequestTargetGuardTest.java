package io.dlsm.apiguard;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RequestTargetGuardTest {

    @Test
    void wellFormedTargetsPass() {
        assertThat(RequestTargetGuard.problem("/v1/volumes/vol-1", null)).isNull();
        assertThat(RequestTargetGuard.problem("/v1/volumes/%C3%A9", null)).isNull();
        assertThat(RequestTargetGuard.problem("/v1/volumes", "node=a&x=%20")).isNull();
        assertThat(RequestTargetGuard.problem("/", null)).isNull();
    }

    @Test
    void badEscapesAreRefused() {
        assertThat(RequestTargetGuard.problem("/v1/volumes/%zz", null)).contains("two hex digits");
        assertThat(RequestTargetGuard.problem("/v1/volumes/%4", null)).contains("two hex digits");
        assertThat(RequestTargetGuard.problem("/v1/volumes", "q=%g1")).contains("two hex digits");
        assertThat(RequestTargetGuard.problem("/v1/volumes/%C3%28", null)).contains("not UTF-8");
    }

    @Test
    void charactersAUriMayNotHoldAreRefused() {
        assertThat(RequestTargetGuard.problem("/v1/volumes/[]", null)).contains("does not parse");
        assertThat(RequestTargetGuard.problem("/v1/volumes/a{b}", null)).contains("does not parse");
        // Raw UTF-8 bytes of "é" as Grizzly hands them over (one char per byte).
        assertThat(RequestTargetGuard.problem("/v1/volumes/\u00c3\u00a9", null)).contains("not printable ASCII");
        assertThat(RequestTargetGuard.problem("/v1/volumes/a\u0001", null)).contains("not printable ASCII");
    }

    @Test
    void messagesNeverEchoTheTarget() {
        assertThat(RequestTargetGuard.problem("/v1/volumes/secret%zz", null)).doesNotContain("secret");
        assertThat(RequestTargetGuard.problem("/v1/secret[", null)).doesNotContain("secret");
    }
}
