package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.nbd.Nbd;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A named block device offered over NBD, with the connections currently using it. Access is
 * decided by a {@link WriteGate} that may be shared with other exports of the same device; a
 * privileged export (the one a migration sink connects to) may still write when the gate is
 * fenced. Since access can change while clients are connected, every mutating request is
 * admitted through the gate when it arrives.
 */
public final class Export {
    private final String name;
    private final BlockDevice device;
    private final WriteGate gate;
    private final boolean privileged;
    private final boolean listed;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean withdrawn;

    public Export(String name, BlockDevice device, WriteGate gate, boolean privileged, boolean listed) {
        this.name = name;
        this.device = device;
        this.gate = gate;
        this.privileged = privileged;
        this.listed = listed;
    }

    /** An ordinary, listed export with its own gate. */
    public static Export of(String name, BlockDevice device, boolean readOnly) {
        return new Export(name, device, new WriteGate(readOnly), false, true);
    }

    public String name() {
        return name;
    }

    public BlockDevice device() {
        return device;
    }

    public WriteGate gate() {
        return gate;
    }

    public boolean privileged() {
        return privileged;
    }

    /** Whether NBD_OPT_LIST shows it; migration exports stay unlisted. */
    public boolean listed() {
        return listed;
    }

    public boolean readOnly() {
        return gate.readOnlyFor(privileged) || device.capabilities().readOnly();
    }

    public Capabilities capabilities() {
        return device.capabilities().withReadOnly(readOnly());
    }

    /** Flags a client is told at NBD_OPT_GO / NBD_OPT_EXPORT_NAME time. */
    public int transmissionFlags(boolean structuredReplies) {
        Capabilities c = capabilities();
        int flags = Nbd.NBD_FLAG_HAS_FLAGS;
        if (c.readOnly()) {
            flags |= Nbd.NBD_FLAG_READ_ONLY;
        }
        if (c.flush()) {
            flags |= Nbd.NBD_FLAG_SEND_FLUSH;
        }
        if (c.fua()) {
            flags |= Nbd.NBD_FLAG_SEND_FUA;
        }
        if (c.trim() && !c.readOnly()) {
            flags |= Nbd.NBD_FLAG_SEND_TRIM;
        }
        if (c.writeZeroes() && !c.readOnly()) {
            flags |= Nbd.NBD_FLAG_SEND_WRITE_ZEROES;
            if (c.fastZero()) {
                flags |= Nbd.NBD_FLAG_SEND_FAST_ZERO;
            }
        }
        if (structuredReplies) {
            flags |= Nbd.NBD_FLAG_SEND_DF;
        }
        if (c.multiConn()) {
            flags |= Nbd.NBD_FLAG_CAN_MULTI_CONN;
        }
        return flags;
    }

    boolean tryBeginWrite() {
        return !device.capabilities().readOnly() && gate.tryBeginWrite(privileged);
    }

    void endWrite() {
        gate.endWrite();
    }

    /** Returns whether the connection counts as a writer (it was offered a writable export). */
    boolean attach(NbdConnection connection) {
        boolean writer = !privileged && !readOnly();
        connection.offeredWrites(writer);
        connections.add(connection);
        if (writer) {
            gate.writerAttached();
        }
        return writer;
    }

    /**
     * The export has just become writable (unfenced, or made read-write): clients that were
     * told it is read-only keep that for their whole connection (NBD negotiates flags once)
     * and would refuse their own writes forever, so they are disconnected to reconnect and
     * learn it. A guest that reconnected to its source while a migration had it fenced, and
     * stays there after the migration was aborted, gets its disk back writable this way.
     * Returns how many were disconnected; none while the export is still read-only.
     */
    public int reopenReadOnlyClients(String reason) {
        if (readOnly()) {
            return 0;
        }
        int n = 0;
        for (NbdConnection c : connections) {
            if (!c.offeredWrites()) {
                c.disconnect(reason);
                n++;
            }
        }
        return n;
    }

    void detach(NbdConnection connection, boolean writer) {
        connections.remove(connection);
        if (writer) {
            gate.writerDetached();
        }
    }

    public int connectionCount() {
        return connections.size();
    }

    public boolean withdrawn() {
        return withdrawn;
    }

    /**
     * A new export of the same device, gate and flags, not withdrawn: what serves the device
     * again after this one was withdrawn (which is for good: a connection that finds its
     * export withdrawn ends right after the handshake).
     */
    public Export reopened() {
        return new Export(name, device, gate, privileged, listed);
    }

    /** Stops serving: new clients cannot find it, connected ones are disconnected. */
    void withdraw() {
        withdrawn = true;
        for (NbdConnection c : connections) {
            c.disconnect("export " + name + " was withdrawn");
        }
    }
}
