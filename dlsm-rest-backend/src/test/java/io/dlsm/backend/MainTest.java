package io.dlsm.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Clock;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MainTest {

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine command = new CommandLine(new Main(Clock.systemUTC()));
        command.setOut(new PrintWriter(out, true));
        command.setErr(new PrintWriter(err, true));
        return command.execute(args);
    }

    @Test
    void versionNamesTheBuild() {
        assertThat(run("--version")).isZero();
        assertThat(out.toString()).startsWith("dlsm-rest-backend ").doesNotContain("unknown");
    }

    @Test
    void helpListsEveryOption() {
        assertThat(run("--help")).isZero();
        assertThat(out.toString()).contains("--listen", "--state-dir", "--token-file", "--config", "--version");
    }

    @Test
    void missingStateDirIsAConfigError() {
        assertThat(run("--listen", "127.0.0.1:0")).isEqualTo(Main.EXIT_CONFIG);
        assertThat(err.toString()).contains("--state-dir is required");
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertThat(run("--bogus")).isEqualTo(2);
    }
}
