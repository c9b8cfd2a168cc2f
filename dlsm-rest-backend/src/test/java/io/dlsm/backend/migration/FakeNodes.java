package io.dlsm.backend.migration;

import io.dlsm.backend.node.BlockdSink;
import io.dlsm.backend.node.BlockdSnapshot;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.Node;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.node.NodeClient;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * An in-memory model of the blockd behaviour the orchestration relies on, with content: a
 * volume is a map of block number to the last value written there, a sink in PROXY forwards
 * writes to its source, an active one keeps them and remembers which blocks it wrote, an abort
 * copies those back, a commit turns the sink into the node's volume. So a test can ask "which
 * node holds the disk now, and does it hold every write?" after any sequence of calls.
 *
 * <p>Like blockd, a fenced volume refuses its ordinary writers (not the sink), opening the
 * migration export arms the automatic fence for when the last writer leaves, and a sink the
 * kernel copies ({@link #copiesWithDmClone}) refuses an abort after activation.
 */
final class FakeNodes implements NodeClient {

    static final class Vol {
        final long size;
        final Map<Long, Integer> blocks = new TreeMap<>();
        boolean fenced;
        int writers;
        String migrationExport;
        boolean autoFenceArmed;

        Vol(long size) {
            this.size = size;
        }
    }

    static final class FakeSink {
        final String sourceNode;
        final Map<Long, Integer> blocks = new TreeMap<>();
        final Set<Long> written = new HashSet<>();
        final boolean kernelCopies;
        String state = "PROXY";

        FakeSink(String sourceNode, boolean kernelCopies) {
            this.sourceNode = sourceNode;
            this.kernelCopies = kernelCopies;
        }
    }

    private final Map<String, Map<String, Vol>> volumes = new HashMap<>();
    private final Map<String, Map<String, FakeSink>> sinks = new HashMap<>();
    private final Map<Integer, String> nodeByNbdPort = new HashMap<>();
    private final Set<String> dmCloneNodes = new HashSet<>();
    /** Every call, as "node:call volume", in order. */
    final List<String> calls = new ArrayList<>();

    /** Adds a node; a node added again (a restarted backend's view) keeps what it holds. */
    synchronized void addNode(String name, int nbdPort) {
        volumes.putIfAbsent(name, new HashMap<>());
        sinks.putIfAbsent(name, new HashMap<>());
        nodeByNbdPort.put(nbdPort, name);
    }

    /** Sinks created on {@code node} from now on are copied by dm-clone (no copy-back). */
    synchronized void copiesWithDmClone(String node) {
        dmCloneNodes.add(node);
    }

    // ------------------------------------------------------------------ what a guest does

    /** An ordinary client connects to {@code volume}'s export on {@code node}. */
    synchronized void attachWriter(String node, String volume) {
        Vol v = volumes.get(node).get(volume);
        if (v != null) {
            v.writers++;
        }
    }

    /** ... and disconnects: the last writer of a volume with an armed fence fences it. */
    synchronized void detachWriter(String node, String volume) {
        Vol v = volumes.get(node).get(volume);
        if (v != null && --v.writers == 0 && v.autoFenceArmed && !v.fenced) {
            v.fenced = true;
            v.autoFenceArmed = false;
        }
    }

    /** A guest write through {@code node}'s export; false where blockd would refuse it. */
    synchronized boolean write(String node, String volume, long block, int value) {
        FakeSink s = sinks.get(node).get(volume);
        if (s != null && !s.state.equals("COMMITTED")) {
            switch (s.state) {
                case "PROXY" -> {
                    // Proxied through the privileged migration export: the fence does not apply.
                    volumes.get(s.sourceNode).get(volume).blocks.put(block, value);
                    return true;
                }
                case "ACTIVE", "DEGRADED", "HYDRATED" -> {
                    s.blocks.put(block, value);
                    s.written.add(block);
                    return true;
                }
                default -> {
                    return false;
                }
            }
        }
        Vol v = volumes.get(node).get(volume);
        if (v == null || v.fenced) {
            return false;
        }
        v.blocks.put(block, value);
        return true;
    }

    /** What a guest reads through {@code node}'s export; empty if it has none. */
    synchronized Optional<Map<Long, Integer>> content(String node, String volume) {
        FakeSink s = sinks.get(node).get(volume);
        if (s != null && !s.state.equals("ABORTED") && !s.state.equals("COMMITTED")) {
            Map<Long, Integer> out = new TreeMap<>(volumes.get(s.sourceNode).get(volume).blocks);
            if (!s.state.equals("PROXY")) {
                out.putAll(s.blocks);
            }
            return Optional.of(out);
        }
        Vol v = volumes.get(node).get(volume);
        return v == null ? Optional.empty() : Optional.of(new TreeMap<>(v.blocks));
    }

    synchronized boolean hasVolume(String node, String volume) {
        return volumes.get(node).containsKey(volume);
    }

    synchronized boolean fenced(String node, String volume) {
        Vol v = volumes.get(node).get(volume);
        return v != null && v.fenced;
    }

    synchronized Optional<String> sinkState(String node, String volume) {
        return Optional.ofNullable(sinks.get(node).get(volume)).map(s -> s.state);
    }

    /** The background copier finished: every block is local. */
    synchronized void hydrate(String node, String volume) {
        FakeSink s = sinks.get(node).get(volume);
        Map<Long, Integer> all = new TreeMap<>(volumes.get(s.sourceNode).get(volume).blocks);
        all.putAll(s.blocks);
        s.blocks.putAll(all);
        s.state = "HYDRATED";
    }

    /** Auto-commit of a hydrated sink: it becomes the node's volume, clients keep their export. */
    synchronized void commit(String node, String volume) {
        FakeSink s = sinks.get(node).get(volume);
        if (!s.state.equals("HYDRATED")) {
            throw new IllegalStateException("commit of a " + s.state + " sink");
        }
        s.state = "COMMITTED";
        Vol v = new Vol(volumes.get(s.sourceNode).get(volume).size);
        v.blocks.putAll(s.blocks);
        volumes.get(node).put(volume, v);
    }

    // ------------------------------------------------------------------ NodeClient

    private Vol vol(Node node, String name, String call) {
        Vol v = volumes.get(node.name()).get(name);
        if (v == null) {
            throw new NodeCallException(node.name(), call + " " + name, 404, "no volume named '" + name + "'");
        }
        return v;
    }

    private FakeSink sink(Node node, String name, String call) {
        FakeSink s = sinks.get(node.name()).get(name);
        if (s == null || s.state.equals("ABORTED")) {
            throw new NodeCallException(node.name(), call + " " + name, 404, "no sink named '" + name + "'");
        }
        return s;
    }

    private BlockdVolume view(String name, Vol v) {
        return new BlockdVolume(name, v.size, v.blocks.size() * 4096L, v.fenced, v.writers, v.migrationExport);
    }

    private static BlockdSink view(String name, FakeSink s) {
        return new BlockdSink(name, s.state, 1, s.state.equals("PROXY") ? 0 : 1, 0, 0, 0, 0, 0, 0, 0, null, null,
                null, null, null, "OK", null);
    }

    private void log(Node node, String call, String name) {
        calls.add(node.name() + ":" + call + " " + name);
    }

    @Override
    public synchronized BlockdVolume createVolume(Node node, String name, long sizeBytes) {
        log(node, "createVolume", name);
        if (volumes.get(node.name()).containsKey(name)) {
            throw new NodeCallException(node.name(), "create volume " + name, 409, "exists");
        }
        Vol v = new Vol(sizeBytes);
        volumes.get(node.name()).put(name, v);
        return view(name, v);
    }

    @Override
    public synchronized Optional<BlockdVolume> getVolume(Node node, String name) {
        Vol v = volumes.get(node.name()).get(name);
        return v == null ? Optional.empty() : Optional.of(view(name, v));
    }

    @Override
    public BlockdVolume resizeVolume(Node node, String name, long sizeBytes) {
        throw new UnsupportedOperationException("not used by migrations");
    }

    @Override
    public synchronized void deleteVolume(Node node, String name) {
        log(node, "deleteVolume", name);
        Vol v = volumes.get(node.name()).get(name);
        if (v != null && v.writers > 0) {
            throw new NodeCallException(node.name(), "delete volume " + name, 409, "volume '" + name + "' has "
                    + v.writers + " NBD connection(s); disconnect them before deleting");
        }
        volumes.get(node.name()).remove(name);
    }

    @Override
    public BlockdSnapshot createSnapshot(Node node, String volume, String name) {
        throw new UnsupportedOperationException("not used by migrations");
    }

    @Override
    public Optional<BlockdSnapshot> getSnapshot(Node node, String volume, String name) {
        return Optional.empty();
    }

    @Override
    public void deleteSnapshot(Node node, String volume, String name) {
        throw new UnsupportedOperationException("not used by migrations");
    }

    @Override
    public BlockdVolume createVolumeFrom(Node node, String name, long sizeBytes, String sourceVolume,
                                         String sourceSnapshot) {
        throw new UnsupportedOperationException("not used by migrations");
    }

    @Override
    public synchronized String openMigrationExport(Node node, String volume) {
        log(node, "openMigrationExport", volume);
        Vol v = vol(node, volume, "open migration export");
        if (v.migrationExport == null) {
            v.migrationExport = volume + "@tok";
            v.autoFenceArmed = !v.fenced;
        }
        return v.migrationExport;
    }

    @Override
    public synchronized void closeMigrationExport(Node node, String volume) {
        log(node, "closeMigrationExport", volume);
        Vol v = volumes.get(node.name()).get(volume);
        if (v != null) {
            v.migrationExport = null;
            v.autoFenceArmed = false;
        }
    }

    @Override
    public synchronized BlockdVolume fence(Node node, String volume) {
        log(node, "fence", volume);
        Vol v = vol(node, volume, "fence");
        v.fenced = true;
        v.autoFenceArmed = false;
        return view(volume, v);
    }

    @Override
    public synchronized BlockdVolume unfence(Node node, String volume) {
        log(node, "unfence", volume);
        Vol v = vol(node, volume, "unfence");
        v.fenced = false;
        v.autoFenceArmed = v.migrationExport != null;
        return view(volume, v);
    }

    @Override
    public synchronized BlockdSink createSink(Node node, String name, String sourceHost, int sourcePort,
                                              String export, long bandwidthBytesPerSecond) {
        log(node, "createSink", name);
        FakeSink existing = sinks.get(node.name()).get(name);
        if (volumes.get(node.name()).containsKey(name) || existing != null && existing.state.matches("PROXY|ACTIVE|"
                + "DEGRADED|HYDRATED")) {
            throw new NodeCallException(node.name(), "create sink " + name, 409, "a volume or sink exists");
        }
        String source = nodeByNbdPort.get(sourcePort);
        if (source == null || !export.equals(volumes.get(source).get(name).migrationExport)) {
            throw new NodeCallException(node.name(), "create sink " + name, 502, "cannot open " + export);
        }
        FakeSink s = new FakeSink(source, dmCloneNodes.contains(node.name()));
        sinks.get(node.name()).put(name, s);
        return view(name, s);
    }

    @Override
    public synchronized Optional<BlockdSink> getSink(Node node, String name) {
        FakeSink s = sinks.get(node.name()).get(name);
        return s == null || s.state.equals("ABORTED") ? Optional.empty() : Optional.of(view(name, s));
    }

    @Override
    public synchronized BlockdSink activateFencedSink(Node node, String name) {
        log(node, "activate", name);
        FakeSink s = sink(node, name, "activate");
        if (s.state.equals("PROXY")) {
            s.state = "ACTIVE";
        }
        return view(name, s);
    }

    @Override
    public synchronized BlockdSink setSinkBandwidth(Node node, String name, long bytesPerSecond) {
        return view(name, sink(node, name, "set bandwidth"));
    }

    @Override
    public synchronized BlockdSink repointSink(Node node, String name, String sourceHost, int sourcePort) {
        return view(name, sink(node, name, "repoint"));
    }

    @Override
    public synchronized Optional<BlockdSink> abortSink(Node node, String name) {
        log(node, "abortSink", name);
        FakeSink s = sinks.get(node.name()).get(name);
        if (s == null || s.state.equals("ABORTED")) {
            return Optional.empty();
        }
        switch (s.state) {
            case "PROXY" -> s.state = "ABORTED";
            case "ACTIVE", "DEGRADED", "HYDRATED" -> {
                if (s.kernelCopies) {
                    throw new NodeCallException(node.name(), "abort sink " + name, 409,
                            "the kernel (dm-clone) copies it: the regions the VM wrote here are not known");
                }
                Vol source = volumes.get(s.sourceNode).get(name);
                for (long b : s.written) {
                    source.blocks.put(b, s.blocks.get(b));
                }
                s.state = "ABORTED";
            }
            default -> throw new NodeCallException(node.name(), "abort sink " + name, 409,
                    "sink " + name + " is " + s.state);
        }
        // blockd deletes an aborted sink's files and forgets it.
        sinks.get(node.name()).remove(name);
        return Optional.of(view(name, s));
    }

    @Override
    public String createDevice(Node node, String volume) {
        throw new UnsupportedOperationException("not used by migrations");
    }

    @Override
    public void deleteDevice(Node node, String volume) {
        throw new UnsupportedOperationException("not used by migrations");
    }
}
