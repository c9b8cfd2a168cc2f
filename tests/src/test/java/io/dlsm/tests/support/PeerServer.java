package io.dlsm.tests.support;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A server process (qemu-nbd, nbdkit, blockd, ...) listening on a TCP port of 127.0.0.1.
 * {@link #start} returns once the port accepts connections; {@link #close} kills exactly this
 * process by its handle and waits for it, so a test never leaves a server behind.
 */
public final class PeerServer implements AutoCloseable {
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private final List<String> command;
    private final int port;
    private final Process process;
    private final Path log;

    private PeerServer(List<String> command, int port, Process process, Path log) {
        this.command = command;
        this.port = port;
        this.process = process;
        this.log = log;
    }

    /** Starts {@code command}, which must listen on {@code port}, and waits until it does. */
    public static PeerServer start(int port, List<String> command) throws IOException {
        Path log = Files.createTempFile("dlsm-peer-" + port, ".log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PeerServer server = new PeerServer(List.copyOf(command), port, process, log);
        try {
            server.awaitListening();
            return server;
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    public int port() {
        return port;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** What the process printed so far, for failure messages. */
    public String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** Polls connect until the port answers; bounded, and fails at once if the process died. */
    private void awaitListening() throws IOException {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        while (true) {
            if (!process.isAlive()) {
                throw new IOException(command + " exited with " + process.exitValue() + " before listening: "
                        + output());
            }
            try (Socket probe = new Socket()) {
                probe.connect(address, 1000);
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new IOException(command + " not listening on " + port + " after " + READY_TIMEOUT
                            + ": " + output(), notYet);
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted waiting for " + command, e);
            }
        }
    }

    /** Terminates the process (SIGTERM, then SIGKILL if it lingers) and removes its log. */
    @Override
    public void close() throws IOException {
        try {
            process.destroy();
            if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
