package io.dlsm.blockd.nbd.server;

import io.dlsm.blockd.block.BlockDevice;
import io.dlsm.blockd.block.Capabilities;
import io.dlsm.blockd.block.Extent;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A heap-backed block device whose capabilities a test chooses, so transmission flags can be
 * checked against a known capability set. Writes can be held at a gate, which lets a test
 * observe a write that is admitted but not yet completed. Public for the tests of other
 * packages that need a real NbdServer in front of a disk with chosen capabilities.
 */
public final class MemoryBlockDevice implements BlockDevice {
    public static final Capabilities ALL = new Capabilities(false, true, true, true, true, true, true, true);

    private final byte[] bytes;
    private final Capabilities capabilities;
    private volatile CountDownLatch writeGate;
    private final CountDownLatch writeEntered = new CountDownLatch(1);
    private volatile boolean cached;
    private volatile String lastReader;
    private final java.util.List<String> readers = new java.util.concurrent.CopyOnWriteArrayList<>();

    public MemoryBlockDevice(int size, Capabilities capabilities) {
        this.bytes = new byte[size];
        this.capabilities = capabilities;
    }

    /** Every later write blocks until {@code gate} opens. */
    void holdWritesUntil(CountDownLatch gate) {
        this.writeGate = gate;
    }

    boolean awaitWriteEntered() throws InterruptedException {
        return writeEntered.await(10, TimeUnit.SECONDS);
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    /** Whether {@link #readIfCached} answers (a local cached volume) or declines (a remote one). */
    void cached(boolean cached) {
        this.cached = cached;
    }

    /** Name of the thread that last read, by either method. */
    String lastReader() {
        return lastReader;
    }

    /** Names of the threads that read, in order. */
    java.util.List<String> readers() {
        return java.util.List.copyOf(readers);
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst) {
        lastReader = Thread.currentThread().getName();
        readers.add(lastReader);
        dst.put(bytes, (int) offset, dst.remaining());
    }

    @Override
    public boolean readIfCached(long offset, ByteBuffer dst) {
        if (!cached) {
            return false;
        }
        read(offset, dst);
        return true;
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) {
        writeEntered.countDown();
        CountDownLatch gate = writeGate;
        if (gate != null) {
            try {
                if (!gate.await(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("test never opened the write gate");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        synchronized (this) {
            src.get(bytes, (int) offset, src.remaining());
        }
    }

    @Override
    public void flush() {
    }

    @Override
    public synchronized void trim(long offset, long length, boolean fua) {
        Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public synchronized void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly, boolean fua) {
        Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        return List.of(Extent.data(offset, Math.min(length, bytes.length - offset)));
    }

    @Override
    public void close() {
    }
}
