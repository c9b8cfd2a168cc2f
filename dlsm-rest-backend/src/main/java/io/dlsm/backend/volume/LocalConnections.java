package io.dlsm.backend.volume;

import io.dlsm.backend.api.error.ConflictException;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.node.NodeRegistry;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connections in mode "local": the hypervisor gets /dev/mapper/dlsm-VOLUME on its own host.
 * os-brick's LocalConnector only passes {@code device_path} through, so the device must exist
 * before the answer: the host's blockd is asked to create it first.
 *
 * <p>The host must hold the data or the migration sink: the volume's node, or the target node
 * of the volume's unfinished migration (the device then proxies the sink and is cut over by
 * blockd when the sink commits). A host that is neither has nothing local to present.
 */
final class LocalConnections {
    private static final Logger LOG = LoggerFactory.getLogger(LocalConnections.class);
    static final String DRIVER_VOLUME_TYPE = "local";

    private final NodeRegistry nodes;
    private final NodeClient client;

    LocalConnections(NodeRegistry nodes, NodeClient client) {
        this.nodes = nodes;
        this.client = client;
    }

    ConnectionInfo connect(Volume v, String host, Optional<String> migrationTarget) {
        String name = v.name();
        boolean toTarget = migrationTarget.filter(host::equals).isPresent();
        if (!toTarget && !host.equals(v.node())) {
            throw new ConflictException("host '" + host + "' holds neither volume '" + name + "' (it is on node '"
                    + v.node() + "') nor a migration sink of it, so it has no local device to attach; use mode "
                    + "'nbd'", Map.of("volume", name, "node", host));
        }
        Node node = nodes.find(host).orElseThrow(() -> new ConflictException("node '" + host + "' is not "
                + "registered, so it has no device-mapper path for volume '" + name + "'; use mode 'nbd'",
                Map.of("volume", name, "node", host)));
        if (!Boolean.TRUE.equals(node.capabilities().deviceMapper())) {
            throw new ConflictException("node '" + host + "' has no device-mapper path (its blockd registered "
                    + "without the kernel path: start it with --kernel-path auto on a kernel with dm-mod and nbd); "
                    + "use mode 'nbd' for volume '" + name + "'", Map.of("volume", name, "node", host));
        }
        String device = client.createDevice(node, name);
        LOG.info("volume {}: kernel device {} on node {}{}", name, device, host,
                toTarget ? " (over the migration sink)" : "");
        return new ConnectionInfo(DRIVER_VOLUME_TYPE, Map.of("device_path", device));
    }

    /**
     * Removes the host's device. Only nodes that registered a device-mapper path can have
     * one; the node's blockd answers success when the device is already gone, so a repeated
     * detach (Cinder retries) is harmless.
     */
    void disconnect(Volume v, String host) {
        Optional<Node> node = nodes.find(host);
        if (node.isEmpty() || !Boolean.TRUE.equals(node.get().capabilities().deviceMapper())) {
            return;
        }
        client.deleteDevice(node.get(), v.name());
        LOG.info("volume {}: kernel device on node {} removed", v.name(), host);
    }
}
