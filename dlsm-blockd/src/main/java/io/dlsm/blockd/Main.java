package io.dlsm.blockd;

import io.dlsm.blockd.config.BlockdCommand;
import io.dlsm.blockd.config.BlockdConfig;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * Entry point. Once both listeners are bound it prints exactly one line,
 * {@code READY nbd=HOST:PORT api=HOST:PORT}, so scripts and tests can wait for it.
 */
public final class Main {
    private static final Logger log = LoggerFactory.getLogger(Main.class);

    private Main() {
    }

    public static void main(String[] args) {
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        int code = BlockdCommand.run(Main::serve, args);
        if (code != 0) {
            System.exit(code);
        }
    }

    private static int serve(BlockdConfig config) {
        Blockd blockd = new Blockd(config);
        CountDownLatch stopped = new CountDownLatch(1);
        try {
            blockd.start();
        } catch (IOException | RuntimeException e) {
            log.error("blockd could not start: {}", e.getMessage(), e);
            closeQuietly(blockd);
            return 1;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("shutting down");
            closeQuietly(blockd);
            stopped.countDown();
        }, "shutdown"));
        System.out.println("READY nbd=" + hostPort(blockd.nbdAddress()) + " api=" + hostPort(blockd.apiAddress()));
        System.out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    private static String hostPort(java.net.InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }

    private static void closeQuietly(Blockd blockd) {
        try {
            blockd.close();
        } catch (IOException e) {
            log.warn("error while stopping: {}", e.toString());
        }
    }
}
