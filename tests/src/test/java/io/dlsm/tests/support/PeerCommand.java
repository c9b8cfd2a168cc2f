package io.dlsm.tests.support;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one external command (a real NBD peer) to completion with a bounded wait. Output goes
 * to temporary files rather than pipes so a chatty peer can never block on a full pipe.
 */
public final class PeerCommand {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public String describe() {
            return String.join(" ", command) + "\n--- exit " + exitCode + "\n--- stdout:\n" + stdout
                    + "\n--- stderr:\n" + stderr;
        }
    }

    private PeerCommand() {
    }

    /** Runs the command and fails the test, with all its output, unless it exits 0. */
    public static Result ok(String... command) {
        return expectExit(0, command);
    }

    /** Runs the command and fails the test, with all its output, unless it exits {@code expected}. */
    public static Result expectExit(int expected, String... command) {
        Result r = run(DEFAULT_TIMEOUT, command);
        if (r.exitCode() != expected) {
            fail("expected exit " + expected + " from:\n" + r.describe());
        }
        return r;
    }

    public static Result run(Duration timeout, String... command) {
        Path out = null;
        Path err = null;
        Process p = null;
        try {
            out = Files.createTempFile("peer-out", ".txt");
            err = Files.createTempFile("peer-err", ".txt");
            p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                fail("timed out after " + timeout + ":\n" + new Result(List.of(command), -1,
                        Files.readString(out), Files.readString(err)).describe());
            }
            return new Result(List.of(command), p.exitValue(), read(out), read(err));
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        } finally {
            if (p != null && p.isAlive()) {
                kill(p);
            }
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /** Kills a process and everything it started, by PID, and waits (bounded) for it to go. */
    public static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String read(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    private static void deleteQuietly(Path p) {
        if (p == null) {
            return;
        }
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // A leftover temp file is harmless.
        }
    }
}
