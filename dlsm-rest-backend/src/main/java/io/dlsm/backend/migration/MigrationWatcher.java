package io.dlsm.backend.migration;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives every unfinished migration in the background: polls its sink every
 * {@link #POLL_INTERVAL} and re-drives steps that a failed request or a restart left pending.
 * Each migration runs on a worker of its own, so a long abort (copying writes back) does not
 * hold up the others.
 */
public final class MigrationWatcher implements AutoCloseable {

    public static final Duration POLL_INTERVAL = Duration.ofMillis(250);

    private static final Logger LOG = LoggerFactory.getLogger(MigrationWatcher.class);

    private final MigrationService migrations;
    private final ScheduledExecutorService ticker;
    private final ExecutorService workers;

    public MigrationWatcher(MigrationService migrations) {
        this.migrations = migrations;
        this.ticker = Executors.newSingleThreadScheduledExecutor(daemons("migration-ticker"));
        this.workers = Executors.newCachedThreadPool(daemons("migration-driver"));
    }

    public void start() {
        ticker.scheduleWithFixedDelay(this::tick, 0, POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void tick() {
        try {
            List<String> ids = migrations.unfinished();
            for (String id : ids) {
                workers.execute(() -> migrations.driveInBackground(id));
            }
        } catch (RuntimeException e) {
            // A throwing periodic task is never run again; keep ticking whatever happened.
            LOG.error("migration watcher tick failed", e);
        }
    }

    @Override
    public void close() {
        ticker.shutdownNow();
        workers.shutdownNow();
        try {
            workers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static ThreadFactory daemons(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
