package io.dlsm.blockd.nbd.server;

import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Bytes of request and reply buffers all connections together may hold. Only connection
 * readers wait here, never the shared I/O workers: a reader reserves what its request will
 * need before reading the payload (chunk by chunk) or handing a READ to a worker.
 */
final class MemoryBudget {
    /** How often a waiting reader looks whether its connection was closed meanwhile. */
    private static final long RECHECK_MS = 100;

    private final long limit;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition released = lock.newCondition();
    private long used;

    MemoryBudget(long limit) {
        this.limit = limit;
    }

    /**
     * Waits until {@code bytes} fit and takes them. Gives up with ClosedChannelException once
     * {@code open} turns false (the connection was closed while waiting).
     */
    void acquire(long bytes, BooleanSupplier open) throws InterruptedException, ClosedChannelException {
        lock.lock();
        try {
            while (used + bytes > limit) {
                if (!open.getAsBoolean()) {
                    throw new ClosedChannelException();
                }
                released.await(RECHECK_MS, TimeUnit.MILLISECONDS);
            }
            used += bytes;
        } finally {
            lock.unlock();
        }
    }

    void release(long bytes) {
        lock.lock();
        try {
            used -= bytes;
            released.signalAll();
        } finally {
            lock.unlock();
        }
    }

    long used() {
        lock.lock();
        try {
            return used;
        } finally {
            lock.unlock();
        }
    }
}
