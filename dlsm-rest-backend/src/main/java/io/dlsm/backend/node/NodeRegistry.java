package io.dlsm.backend.node;

import io.dlsm.backend.api.Names;
import io.dlsm.backend.api.error.BadRequestException;
import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.api.error.ForbiddenException;
import io.dlsm.backend.api.error.NotFoundException;
import io.dlsm.backend.state.StateStore;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The nodes the backend knows. blockd registers itself (again after every restart, since its
 * ports may change) and heartbeats; {@link #markMissedHeartbeats()} runs on a schedule and turns
 * a node DOWN once it has missed {@value #MISSED_HEARTBEATS} heartbeats.
 */
public final class NodeRegistry {

    public static final StateStore.Kind<Node> KIND = new StateStore.Kind<>("nodes", Node.class);
    /** blockd's heartbeat period; a contract with dlsm-blockd's registration client. */
    public static final Duration HEARTBEAT_INTERVAL = Duration.ofSeconds(5);
    static final int MISSED_HEARTBEATS = 3;

    private static final Logger LOG = LoggerFactory.getLogger(NodeRegistry.class);

    private final StateStore store;
    private final NodeKeys keys;
    private final Clock clock;
    private final Map<String, Node> nodes = new ConcurrentHashMap<>();

    public NodeRegistry(StateStore store, NodeKeys keys, Clock clock) {
        this.store = store;
        this.keys = keys;
        this.clock = clock;
        nodes.putAll(store.loadAll(KIND));
    }

    public NodeRegistry(StateStore store, Clock clock) {
        this(store, new NodeKeys(store), clock);
    }

    /** What {@link #register} did: a new node answers 201, a re-registration 200. */
    public record Registered(Node node, boolean created) {
    }

    /** Registration by an operator (tests and tools that stand in for a node). */
    public Registered register(NodeRegistration r) {
        return register(r, new Caller.Operator());
    }

    /**
     * Registers a node, or updates its addresses. A name whose node bound a credential is
     * re-registered only by that credential, so nobody holding merely the registration (or
     * API) token can point an existing node's name, and with it its volumes and the calls
     * that carry its token, at another address.
     */
    public synchronized Registered register(NodeRegistration r, Caller caller) {
        if (r == null) {
            throw new BadRequestException("body", "a JSON request body is required");
        }
        String name = Names.requireName("name", r.name());
        String apiUrl = requireHttpUrl(r.apiUrl());
        if (r.nbdHost() == null || r.nbdHost().isBlank()) {
            throw new BadRequestException("nbdHost", "nbdHost is required");
        }
        if (r.nbdPort() == null || r.nbdPort() < 1 || r.nbdPort() > 65_535) {
            throw new BadRequestException("nbdPort", "nbdPort must be 1-65535, got " + r.nbdPort());
        }
        requireSpace(r.capacityBytes(), r.freeBytes());
        Capabilities caps = r.capabilities() == null ? Capabilities.NBD_ONLY : r.capabilities();
        Optional<NodeKeys.NodeKey> key = keys.get(name);
        String bound = key.map(NodeKeys.NodeKey::credentialSha256).orElse(null);
        NodeAuth auth;
        String credential;
        if (caller instanceof Caller.Anyone) {
            auth = NodeAuth.NONE;
            credential = bound;
        } else if (caller instanceof Caller.Member m) {
            if (!m.node().equals(name)) {
                // A node speaks only for itself.
                refuseIfBound(name, bound);
                throw new ForbiddenException("the credential of node '" + m.node() + "' cannot register node '"
                        + name + "': a new node registers with the registration token", Map.of("node", name));
            }
            auth = NodeAuth.CREDENTIAL;
            credential = bound;
        } else if (caller instanceof Caller.Registrar) {
            refuseIfBound(name, bound);
            auth = NodeAuth.REGISTRATION_TOKEN;
            credential = credentialDigest(r);
        } else {
            refuseIfBound(name, bound);
            auth = NodeAuth.OPERATOR_TOKEN;
            credential = r.credential() == null ? null : credentialDigest(r);
        }
        String url = stripSlash(apiUrl);
        boolean hasToken = r.apiToken() != null && !r.apiToken().isBlank();
        Node node = new Node(name, url, r.nbdHost(), r.nbdPort(), NodeState.UP, clock.instant(),
                r.capacityBytes(), r.freeBytes(), caps, auth, hasToken ? BackendAuth.TOKEN : BackendAuth.NONE);
        boolean created = !nodes.containsKey(name);
        // The token and the URL it may go to are replaced together, never one without the other.
        keys.put(new NodeKeys.NodeKey(name, credential, url, hasToken ? r.apiToken().strip() : null));
        store.put(KIND, name, node);
        nodes.put(name, node);
        LOG.info("node {} {} (api {}, nbd {}:{}, authenticated by {}, backend calls it with {})", name,
                created ? "registered" : "re-registered", node.apiUrl(), node.nbdHost(), node.nbdPort(),
                auth, node.backendAuth());
        return new Registered(node, created);
    }

    /**
     * Forgets the credential node {@code name} bound (a node reinstalled without its
     * {@code backend-credential} file): its next registration with the registration token binds
     * a new one. The node's address and token stay until then.
     */
    public synchronized Node resetCredential(String name) {
        Node node = get(name);
        keys.resetCredential(name);
        LOG.warn("credential of node {} reset by an operator: the next registration with the registration token "
                + "binds a new one", name);
        return node;
    }

    private static void refuseIfBound(String name, String bound) {
        if (bound != null) {
            throw new ForbiddenException("node '" + name + "' is registered with its own credential, and only that "
                    + "credential may register it again. If this is that node reinstalled without its DATA_DIR/"
                    + "backend-credential, an operator resets it with 'dlsm node reset-credential " + name
                    + "' (DELETE /v1/nodes/" + name + "/credential), then the node registers with the "
                    + "registration token again", Map.of("node", name));
        }
    }

    private static String credentialDigest(NodeRegistration r) {
        if (r.credential() == null || r.credential().strip().length() < 22) {
            throw new BadRequestException("credential", "a first registration must carry the node's credential "
                    + "(at least 128 random bits; blockd keeps it in DATA_DIR/backend-credential)");
        }
        return NodeKeys.sha256Hex(r.credential().strip());
    }

    /**
     * 404 for an unknown node tells blockd to register again (e.g. after a lost state dir).
     * {@code space}, when given, replaces the disk space the node reported before.
     */
    public synchronized void heartbeat(String name, NodeHeartbeat space) {
        Node node = get(name);
        if (space != null) {
            requireSpace(space.capacityBytes(), space.freeBytes());
        }
        Node beat = node.heartbeatAt(clock.instant());
        if (space != null && space.capacityBytes() != null) {
            beat = beat.withSpace(space.capacityBytes(), space.freeBytes());
        }
        store.put(KIND, name, beat);
        nodes.put(name, beat);
        if (node.state() == NodeState.DOWN) {
            LOG.info("node {} is UP again", name);
        }
    }

    public List<Node> list() {
        List<Node> out = new ArrayList<>(nodes.values());
        out.sort((a, b) -> a.name().compareTo(b.name()));
        return out;
    }

    public Node get(String name) {
        return find(name).orElseThrow(() -> new NotFoundException("node", name));
    }

    public Optional<Node> find(String name) {
        return Optional.ofNullable(name == null ? null : nodes.get(name));
    }

    /**
     * The node a request names in {@code field}, which must be known (else 400 naming the field)
     * and UP (else 409: placing work on a node that stopped heartbeating would strand it).
     */
    public Node requireUp(String field, String name) {
        Names.requireName(field, name);
        Node node = find(name).orElseThrow(() -> new BadRequestException(field,
                field + ": no node named '" + name + "' is registered"));
        if (node.state() != NodeState.UP) {
            throw new ConflictException("node '" + name + "' is DOWN (last heartbeat " + node.lastHeartbeat() + ")",
                    Map.of("node", name));
        }
        return node;
    }

    /** The scheduled liveness check. */
    public synchronized void markMissedHeartbeats() {
        Instant deadline = clock.instant().minus(HEARTBEAT_INTERVAL.multipliedBy(MISSED_HEARTBEATS));
        for (Node node : List.copyOf(nodes.values())) {
            if (node.state() == NodeState.UP && node.lastHeartbeat().isBefore(deadline)) {
                Node down = node.withState(NodeState.DOWN);
                store.put(KIND, node.name(), down);
                nodes.put(node.name(), down);
                LOG.warn("node {} is DOWN: no heartbeat since {}", node.name(), node.lastHeartbeat());
            }
        }
    }

    /** Both or neither, non-negative, free within capacity: what a file system can report. */
    private static void requireSpace(Long capacity, Long free) {
        if (capacity == null && free == null) {
            return;
        }
        if (capacity == null || free == null) {
            throw new BadRequestException(capacity == null ? "capacityBytes" : "freeBytes",
                    "capacityBytes and freeBytes come together (the data directory's file system)");
        }
        if (capacity < 0 || free < 0 || free > capacity) {
            throw new BadRequestException("freeBytes", "need 0 <= freeBytes <= capacityBytes, got freeBytes " + free
                    + " and capacityBytes " + capacity);
        }
    }

    private static String requireHttpUrl(String url) {
        if (url == null || url.isBlank()) {
            throw new BadRequestException("apiUrl", "apiUrl is required");
        }
        try {
            URI uri = new URI(url);
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new BadRequestException("apiUrl", "apiUrl must be an http(s) URL with a host, got '" + url + "'");
            }
        } catch (URISyntaxException e) {
            throw new BadRequestException("apiUrl", "apiUrl is not a URL: " + e.getMessage());
        }
        return url;
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }
}
