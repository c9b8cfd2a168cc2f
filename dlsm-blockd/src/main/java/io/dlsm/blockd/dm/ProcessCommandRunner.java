package io.dlsm.blockd.dm;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs commands as processes. Every command is logged before it runs and with its outcome,
 * because these change kernel state an operator may have to undo by hand. Each has a bound:
 * a hung {@code dmsetup suspend} (I/O stuck on a dead nbd socket) must not hang blockd.
 */
public final class ProcessCommandRunner implements CommandRunner {
    private static final Logger log = LoggerFactory.getLogger(ProcessCommandRunner.class);

    @Override
    public Result run(Command c) throws IOException {
        log.info("run: {}", c.display());
        ProcessBuilder pb = new ProcessBuilder(c.argv());
        pb.environment().putAll(c.env());
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        boolean finished;
        try {
            finished = p.waitFor(c.timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + c.display(), e);
        }
        if (!finished) {
            p.destroyForcibly();
            log.error("timed out after {}: {}", c.timeout(), c.display());
            if (c.mayFail()) {
                return new Result(-1, "", "timed out");
            }
            throw new CommandFailedException(c, null, "timed out after " + c.timeout());
        }
        Result r = new Result(p.exitValue(), join(out), join(err));
        if (r.ok()) {
            log.info("ok: {}", c.display());
        } else if (c.mayFail()) {
            log.info("exit {} (tolerated): {}: {}", r.exitCode(), c.display(), r.stderr().strip());
        } else {
            log.error("exit {}: {}: {}", r.exitCode(), c.display(), r.stderr().strip());
            throw new CommandFailedException(c, r, "exit " + r.exitCode());
        }
        return r;
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static String join(CompletableFuture<String> f) throws IOException {
        try {
            return f.get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            // A grandchild holding the pipe open must not block us: the exit code is what counts.
            return "";
        }
    }
}
