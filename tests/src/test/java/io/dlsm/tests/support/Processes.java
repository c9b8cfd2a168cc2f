package io.dlsm.tests.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs one-shot command-line tools (nbdinfo, qemu-img, nbdcopy, ...) with a bounded wait. */
public final class Processes {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private Processes() {
    }

    /** Runs the command and returns its standard output; a non-zero exit or overrun is an error. */
    public static String run(String... command) throws IOException {
        return run(DEFAULT_TIMEOUT, List.of(command));
    }

    public static String run(Duration timeout, List<String> command) throws IOException {
        Path stderr = Files.createTempFile("dlsm-cmd", ".err");
        try {
            Process p = new ProcessBuilder(command).redirectError(stderr.toFile()).start();
            p.getOutputStream().close();
            // Read stdout concurrently with the wait: a full pipe would otherwise block the tool.
            var stdout = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(command + " did not finish within " + timeout);
            }
            if (p.exitValue() != 0) {
                throw new IOException(command + " exited with " + p.exitValue() + ": "
                        + Files.readString(stderr));
            }
            return new String(stdout, StandardCharsets.UTF_8);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted running " + command, e);
        } finally {
            Files.deleteIfExists(stderr);
        }
    }
}
