package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.nbd.Nbd;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A named block device offered over NBD, with the connections currently using it. Whether
 * it accepts writes can change while clients are connected (a migration source is fenced),
 * so every request is checked against the export's state at the time it arrives.
 */
public final class Export {
    private final String name;
    private final BlockDevice device;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean readOnly;
    private volatile boolean withdrawn;
    /** Mutating requests admitted but not yet completed; guarded by this. */
    private int writesInFlight;

    public Export(String name, BlockDevice device, boolean readOnly) {
        this.name = name;
        this.device = device;
        this.readOnly = readOnly;
    }

    public String name() {
        return name;
    }

    public BlockDevice device() {
        return device;
    }

    public boolean readOnly() {
        return readOnly || device.capabilities().readOnly();
    }

    public void setReadOnly(boolean readOnly) {
        this.readOnly = readOnly;
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

    /**
     * Admits a mutating request if the export accepts writes now. Admission and the
     * read-only switch are ordered by one lock, so once {@link #setReadOnlyAndDrain} returns
     * no admitted write is still running.
     */
    synchronized boolean tryBeginWrite() {
        if (readOnly()) {
            return false;
        }
        writesInFlight++;
        return true;
    }

    synchronized void endWrite() {
        if (--writesInFlight == 0) {
            notifyAll();
        }
    }

    /** Makes the export read-only and waits until every admitted write has completed. */
    public void setReadOnlyAndDrain() throws InterruptedException {
        synchronized (this) {
            readOnly = true;
            while (writesInFlight > 0) {
                wait();
            }
        }
    }

    public synchronized int writesInFlight() {
        return writesInFlight;
    }

    void attach(NbdConnection connection) {
        connections.add(connection);
    }

    void detach(NbdConnection connection) {
        connections.remove(connection);
    }

    public int connectionCount() {
        return connections.size();
    }

    public boolean withdrawn() {
        return withdrawn;
    }

    /** Stops serving: new clients cannot find it, connected ones are disconnected. */
    void withdraw() {
        withdrawn = true;
        for (NbdConnection c : connections) {
            c.disconnect("export " + name + " was withdrawn");
        }
    }
}
