package io.dlsm.blockd.nbd.server;

import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Bytes of request and reply buffers all connections together may hold. Only connection
 * readers wait here, never the shared I/O workers: a reader claims what its request needs
 * before reading each chunk of a WRITE's data or handing a READ to a worker.
 *
 * <p>Since WRITE data is claimed chunk by chunk as it arrives (so a slow sender holds only
 * what it sent), several large writes could each hold part of the budget and all wait for
 * more: nothing would ever be released. When everything claimed is held by such waiting
 * writes, the oldest-checking one may complete its request past the limit (one request at
 * a time), which then executes and releases. The bound is therefore the limit plus one
 * maximal request.
 */
final class MemoryBudget {
    /** How often a waiting reader looks whether its connection was closed meanwhile. */
    private static final long RECHECK_MS = 100;

    private final long limit;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition released = lock.newCondition();
    private long used;
    /** What waiting claims hold: when it is all of {@link #used}, nothing will be released. */
    private long heldByWaiters;
    private Claim overdraft;

    MemoryBudget(long limit) {
        this.limit = limit;
    }

    /** What one request holds; released once, when its buffers are. */
    final class Claim {
        private long held;

        /**
         * Waits until {@code bytes} more fit and takes them. Gives up with
         * ClosedChannelException once {@code open} turns false (the connection was closed).
         */
        void acquire(long bytes, BooleanSupplier open) throws InterruptedException, ClosedChannelException {
            lock.lock();
            long waitingWith = held;
            heldByWaiters += waitingWith;
            try {
                while (overdraft != this && used + bytes > limit) {
                    if (!open.getAsBoolean()) {
                        throw new ClosedChannelException();
                    }
                    if (overdraft == null && held > 0 && heldByWaiters == used) {
                        overdraft = this;
                        break;
                    }
                    released.await(RECHECK_MS, TimeUnit.MILLISECONDS);
                }
                used += bytes;
                held += bytes;
            } finally {
                heldByWaiters -= waitingWith;
                lock.unlock();
            }
        }

        void release() {
            lock.lock();
            try {
                used -= held;
                held = 0;
                if (overdraft == this) {
                    overdraft = null;
                }
                released.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    Claim claim() {
        return new Claim();
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
