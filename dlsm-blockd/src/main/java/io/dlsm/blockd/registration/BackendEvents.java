package io.dlsm.blockd.registration;

import io.dlsm.blockd.volume.AutoFenceListener;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pushes what the backend would otherwise find only at its next poll: a volume that fenced
 * itself because its VM left (the backend then switches the migration at once; until it does,
 * the VM on the target has every request proxied back here). Sent on a thread of its own, in
 * order, once: a lost event costs only the backend's poll interval, which still finds it.
 */
public final class BackendEvents implements AutoFenceListener, AutoCloseable {
    /** The event types the backend's {@code POST /v1/nodes/{name}/events} accepts. */
    static final String VOLUME_FENCED = "VOLUME_FENCED";

    private static final Logger log = LoggerFactory.getLogger(BackendEvents.class);

    private final BackendLink link;
    private final ExecutorService sender;

    public BackendEvents(BackendLink link) {
        this.link = link;
        this.sender = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "backend-events");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void fencedAutomatically(String volume) {
        try {
            sender.execute(() -> send(Map.of("type", VOLUME_FENCED, "volume", volume)));
        } catch (RejectedExecutionException e) {
            log.debug("not telling backend {} that volume {} fenced itself: shutting down", link.backend(), volume);
        }
    }

    private void send(Map<String, String> event) {
        long t0 = System.nanoTime();
        try {
            int status = link.send("POST", "/v1/nodes/" + link.nodeName() + "/events", event);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            if (status / 100 == 2) {
                log.info("told backend {} that volume {} fenced itself ({} ms)", link.backend(), event.get("volume"), ms);
            } else {
                log.warn("backend {} answered HTTP {} to event {}; its poll will find the fence instead",
                        link.backend(), status, event);
            }
        } catch (IOException e) {
            log.warn("could not tell backend {} of event {} ({}); its poll will find the fence instead",
                    link.backend(), event, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        sender.shutdownNow();
    }
}
