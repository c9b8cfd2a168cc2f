package io.dlsm.blockd.registration;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Registers this blockd with the REST backend and heartbeats every {@link #HEARTBEAT_INTERVAL}
 * on a daemon thread. Failures are logged and retried, never fatal: the node keeps serving its
 * volumes while the backend is away. A heartbeat answered 404 (the backend lost us, e.g. a
 * fresh state dir) or 401 (an operator reset this node's credential) registers again.
 */
public final class BackendRegistration implements AutoCloseable {
    /** The backend declares a node DOWN after three missed heartbeats of this period. */
    public static final Duration HEARTBEAT_INTERVAL = Duration.ofSeconds(5);
    private static final Logger log = LoggerFactory.getLogger(BackendRegistration.class);

    /**
     * How this node can present volumes, as the backend's contract names it. {@code nbd} is
     * the user-space NBD export (always); {@code deviceMapper}/{@code dmClone} say which kernel
     * mode is in force, not merely what the kernel could do: the backend asks this node for
     * /dev/mapper devices only when blockd will actually create them.
     */
    public record Capabilities(boolean deviceMapper, boolean dmClone, boolean nbd) {
        public static final Capabilities USER_SPACE_ONLY = new Capabilities(false, false, true);

        public static Capabilities of(io.dlsm.blockd.dm.KernelPathMode mode) {
            return switch (mode) {
                case USER_SPACE_ONLY -> USER_SPACE_ONLY;
                case LINEAR_OVER_NBD -> new Capabilities(true, false, true);
                case DM_CLONE -> new Capabilities(true, true, true);
            };
        }
    }

    /** What the backend learns about this node. */
    public record NodeInfo(String name, String apiUrl, String nbdHost, int nbdPort, Capabilities capabilities) {
        public NodeInfo(String name, String apiUrl, String nbdHost, int nbdPort) {
            this(name, apiUrl, nbdHost, nbdPort, Capabilities.USER_SPACE_ONLY);
        }

        /**
         * What the backend hands to other nodes and hypervisors: a wildcard listener (0.0.0.0,
         * ::) has no address they could reach, and would send a sink on another node to itself.
         */
        public static NodeInfo of(String name, InetSocketAddress api, InetSocketAddress nbd) {
            requireReachable("--api-listen", api);
            requireReachable("--nbd-listen", nbd);
            return new NodeInfo(name, "http://" + hostPort(api), nbd.getHostString(), nbd.getPort());
        }

        private static void requireReachable(String option, InetSocketAddress a) {
            if (a.getAddress() != null && a.getAddress().isAnyLocalAddress()) {
                throw new IllegalArgumentException(option + " " + hostPort(a) + " is a wildcard address, which "
                        + "cannot be registered with the backend: other nodes would not know where to reach "
                        + "this one; listen on this node's own address (e.g. " + option + " 192.0.2.10:" + a.getPort()
                        + ")");
            }
        }

        public NodeInfo withCapabilities(Capabilities c) {
            return new NodeInfo(name, apiUrl, nbdHost, nbdPort, c);
        }

        private static String hostPort(InetSocketAddress a) {
            String host = a.getHostString();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
        }
    }

    private final BackendLink link;
    private final URI backend;
    private final NodeInfo node;
    private final DiskSpace.Probe space;
    private final ScheduledExecutorService scheduler;
    private volatile boolean registered;
    private volatile String lastFailure;

    /** {@code space}: the data directory's file system, reported at registration and every heartbeat. */
    public BackendRegistration(BackendLink link, NodeInfo node, DiskSpace.Probe space) {
        if (!link.nodeName().equals(node.name())) {
            throw new IllegalArgumentException("node " + node.name() + " registering over the link of " + link.nodeName());
        }
        this.link = link;
        this.backend = link.backend();
        this.node = node;
        this.space = space;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "backend-heartbeat");
            t.setDaemon(true);
            return t;
        });
    }

    /** Registers at once (in the background) and heartbeats from then on. */
    public void start() {
        scheduler.scheduleWithFixedDelay(this::beat, 0, HEARTBEAT_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whether the last registration succeeded; for tests and logs. */
    public boolean registered() {
        return registered;
    }

    void beat() {
        try {
            if (!registered) {
                register();
            } else {
                int status = link.send("POST", "/v1/nodes/" + node.name() + "/heartbeat",
                        space.probe().orElse(null));
                if (status == 404 || status == 401) {
                    // 401: an operator reset this node's credential; registering binds it again.
                    log.warn("backend {} does not know node {}{} any more; registering again", backend, node.name(),
                            status == 401 ? "'s credential" : "");
                    registered = false;
                    register();
                } else if (status != 204 && status != 200) {
                    fail("heartbeat answered HTTP " + status);
                    return;
                }
            }
            if (lastFailure != null) {
                log.info("backend {} reachable again", backend);
                lastFailure = null;
            }
        } catch (IOException e) {
            fail(e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // A throwing periodic task would never run again.
            fail(e.toString());
        }
    }

    /**
     * With this node's credential; if the backend does not know it yet (401), as a newcomer
     * with the registration token, binding the credential to this node's name.
     */
    private void register() throws IOException, InterruptedException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", node.name());
        body.put("apiUrl", node.apiUrl());
        body.put("nbdHost", node.nbdHost());
        body.put("nbdPort", node.nbdPort());
        body.put("capabilities", node.capabilities());
        link.apiToken().ifPresent(t -> body.put("apiToken", t));
        space.probe().ifPresent(s -> {
            body.put("capacityBytes", s.capacityBytes());
            body.put("freeBytes", s.freeBytes());
        });
        BackendLink.Answer a = link.sendWithCredential("POST", "/v1/nodes", body);
        String how = "its credential";
        if (a.status() == 401) {
            if (!link.hasRegistrationToken()) {
                throw new IOException("the backend does not know this node's credential yet, and the first "
                        + "registration needs the backend's registration token: give --registration-token-file");
            }
            body.put("credential", link.credential());
            a = link.sendWithRegistrationToken("POST", "/v1/nodes", body);
            how = "the registration token";
        }
        if (a.status() == 200 || a.status() == 201) {
            registered = true;
            log.info("registered with backend {} as node {} with {} (api {}, nbd {}:{})", backend, node.name(), how,
                    node.apiUrl(), node.nbdHost(), node.nbdPort());
        } else {
            throw new IOException("registration answered HTTP " + a.status() + ": " + a.body());
        }
    }

    private void fail(String why) {
        // Logged once per distinct failure: a backend down for an hour must not flood the log.
        if (!why.equals(lastFailure)) {
            log.warn("backend {}: {} (retrying every {} s)", backend, why, HEARTBEAT_INTERVAL.toSeconds());
            lastFailure = why;
        }
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
