package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.dm.CommandRunner.Command;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProcessCommandRunnerTest {
    private final ProcessCommandRunner runner = new ProcessCommandRunner();

    private static Command sh(String script, Duration timeout) {
        return new Command(List.of("/bin/sh", "-c", script), Map.of(), timeout, false);
    }

    @Test
    void capturesOutputAndPassesTheEnvironment() throws Exception {
        CommandRunner.Result r = runner.run(sh("echo out; echo err >&2; echo $DM_DISABLE_UDEV", Duration.ofSeconds(10))
                .withEnv(Map.of("DM_DISABLE_UDEV", "1")));
        assertThat(r).isEqualTo(new CommandRunner.Result(0, "out\n1\n", "err\n"));
    }

    @Test
    void failureNamesTheCommandAndStderrUnlessTolerated() throws Exception {
        Command c = sh("echo 'device busy' >&2; exit 5", Duration.ofSeconds(10));
        assertThatThrownBy(() -> runner.run(c)).isInstanceOf(CommandFailedException.class)
                .hasMessageContaining("/bin/sh -c").hasMessageContaining("exit 5").hasMessageContaining("device busy");
        assertThat(runner.run(c.tolerant()).exitCode()).isEqualTo(5);
    }

    @Test
    void aHungCommandIsKilledAtItsBound() {
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> runner.run(sh("exec sleep 600", Duration.ofMillis(300))))
                .isInstanceOf(CommandFailedException.class).hasMessageContaining("timed out");
        // Killed, not waited for: far less than the command's 600 s, however loaded the machine.
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(300));
    }

    @Test
    void aMissingToolIsAnIoError() {
        assertThatThrownBy(() -> runner.run(Command.of(Duration.ofSeconds(5), "/nonexistent/dmsetup", "targets")))
                .isInstanceOf(java.io.IOException.class).isNotInstanceOf(CommandFailedException.class);
    }
}
