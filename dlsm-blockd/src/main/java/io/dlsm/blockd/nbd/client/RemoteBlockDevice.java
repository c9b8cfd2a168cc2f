package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A remote NBD export seen as a {@link BlockDevice}, so local code (a sink in proxy mode, a
 * server re-exporting it) can treat it like any other store. Capabilities are the export's flags.
 */
public final class RemoteBlockDevice implements BlockDevice {
    private final NbdClient client;
    private final Capabilities capabilities;

    /** Takes ownership of {@code client}: closing the device closes it. */
    public RemoteBlockDevice(NbdClient client) {
        this.client = client;
        this.capabilities = new Capabilities(
                client.readOnly(),
                client.canFlush(),
                client.canFua(),
                client.canTrim(),
                client.canWriteZeroes(),
                client.canFastZero(),
                client.canBlockStatus(),
                client.canMultiConn());
    }

    public NbdClient client() {
        return client;
    }

    @Override
    public long size() {
        return client.size();
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        client.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        client.write(offset, src, fua);
    }

    @Override
    public void flush() throws IOException {
        client.flush();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        client.trim(offset, length);
        flushIf(fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua)
            throws IOException {
        client.writeZeroes(offset, length, !mayPunch, fastOnly);
        flushIf(fua);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        if (!client.canBlockStatus()) {
            // Without base:allocation everything must be assumed to be data.
            return List.of(Extent.data(offset, length));
        }
        return client.blockStatus(offset, length);
    }

    /** FUA on a trim/zero is rare; a flush gives the same guarantee without another code path. */
    private void flushIf(boolean fua) throws IOException {
        if (!fua) {
            return;
        }
        if (!client.canFlush()) {
            throw new BlockIoException(Errno.ENOTSUP, "FUA requested but " + client.peer() + " cannot flush");
        }
        client.flush();
    }

    @Override
    public void close() {
        client.close();
    }
}
