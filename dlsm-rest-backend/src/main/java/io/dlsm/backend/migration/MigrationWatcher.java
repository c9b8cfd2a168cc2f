package io.dlsm.backend.migration;

import io.dlsm.backend.api.error.NotFoundException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 * hold up the others. A migration waiting for its VM to leave the source (PREPARED, automatic
 * switch) is looked at every {@link #SWITCH_POLL_INTERVAL}: until the switch the VM already
 * runs on the target with every request proxied over the network, so the switch's delay is
 * the guest's (in the VM lab: 0.49 s after the source QEMU quit at 250 ms, and the guest's
 * rate during the migration 0.89 of its rate before).
 */
public final class MigrationWatcher implements AutoCloseable {

    public static final Duration POLL_INTERVAL = Duration.ofMillis(250);
    public static final Duration SWITCH_POLL_INTERVAL = Duration.ofMillis(50);

    private static final Logger LOG = LoggerFactory.getLogger(MigrationWatcher.class);

    private final MigrationService migrations;
    private final ScheduledExecutorService ticker;
    private final ExecutorService workers;
    /** System.nanoTime() of each migration's last drive; touched by the ticker thread only. */
    private final Map<String, Long> lastDriven = new HashMap<>();

    public MigrationWatcher(MigrationService migrations) {
        this.migrations = migrations;
        this.ticker = Executors.newSingleThreadScheduledExecutor(daemons("migration-ticker"));
        this.workers = Executors.newCachedThreadPool(daemons("migration-driver"));
    }

    public void start() {
        ticker.scheduleWithFixedDelay(this::tick, 0, SWITCH_POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void tick() {
        try {
            List<String> ids = migrations.unfinished();
            long now = System.nanoTime();
            for (String id : ids) {
                Long last = lastDriven.get(id);
                if (last == null || now - last >= POLL_INTERVAL.toNanos() || awaitsSwitch(id)) {
                    lastDriven.put(id, now);
                    workers.execute(() -> migrations.driveInBackground(id));
                }
            }
            lastDriven.keySet().retainAll(ids);
        } catch (RuntimeException e) {
            // A throwing periodic task is never run again; keep ticking whatever happened.
            LOG.error("migration watcher tick failed", e);
        }
    }

    private boolean awaitsSwitch(String id) {
        try {
            Migration m = migrations.get(id);
            return m.phase() == MigrationPhase.PREPARED && m.switchMode() == SwitchMode.AUTO && !m.switchStarted();
        } catch (NotFoundException e) {
            return false;
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
