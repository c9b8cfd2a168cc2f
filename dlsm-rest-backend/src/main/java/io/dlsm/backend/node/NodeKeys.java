package io.dlsm.backend.node;

import io.dlsm.backend.state.StateStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Each node's secrets, apart from the {@link Node} views the API serves: the digest of the
 * credential the node proves itself with, and the token the node handed over for its own API
 * together with the one URL it may be sent to. A registration replaces the token and URL
 * together, so a token is never sent anywhere but where its node registered it.
 */
public final class NodeKeys implements NodeTokens {

    /**
     * @param credentialSha256 hex SHA-256 of the node's credential; null when none is bound
     * @param apiUrl           where {@code apiToken} may be sent
     * @param apiToken         the node's control API token; null when the node runs without one
     */
    public record NodeKey(String node, String credentialSha256, String apiUrl, String apiToken) {
        @Override
        public String toString() {
            // Never in logs.
            return "NodeKey[" + node + "]";
        }
    }

    public static final StateStore.Kind<NodeKey> KIND = new StateStore.Kind<>("node-keys", NodeKey.class);

    private final StateStore store;
    private final Map<String, NodeKey> keys = new ConcurrentHashMap<>();

    public NodeKeys(StateStore store) {
        this.store = store;
        keys.putAll(store.loadAll(KIND));
    }

    public Optional<NodeKey> get(String node) {
        return Optional.ofNullable(keys.get(node));
    }

    synchronized void put(NodeKey key) {
        store.put(KIND, key.node(), key);
        keys.put(key.node(), key);
    }

    /** Unbinds the node's credential, so that the registration token may register it again. */
    synchronized void resetCredential(String node) {
        NodeKey k = keys.get(node);
        if (k != null) {
            put(new NodeKey(node, null, k.apiUrl(), k.apiToken()));
        }
    }

    /** The node whose credential {@code presented} is. */
    public Optional<String> nodeWithCredential(String presented) {
        byte[] digest = sha256(presented);
        String found = null;
        for (NodeKey k : keys.values()) {
            // Every bound key is compared, in constant time each, so timing does not tell which matched.
            if (k.credentialSha256() != null
                    && MessageDigest.isEqual(digest, HexFormat.of().parseHex(k.credentialSha256()))) {
                found = k.node();
            }
        }
        return Optional.ofNullable(found);
    }

    @Override
    public Optional<String> tokenFor(Node node) {
        NodeKey k = keys.get(node.name());
        if (k == null || k.apiToken() == null || !k.apiUrl().equals(node.apiUrl())) {
            return Optional.empty();
        }
        return Optional.of(k.apiToken());
    }

    static String sha256Hex(String secret) {
        return HexFormat.of().formatHex(sha256(secret));
    }

    private static byte[] sha256(String secret) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            // Every Java platform must provide SHA-256.
            throw new IllegalStateException(e);
        }
    }
}
