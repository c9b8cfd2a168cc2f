package io.dlsm.blockd.nbd.server;

import java.util.function.Consumer;

/**
 * Who may write a volume right now, shared by every export of that volume (its own export
 * and the migration export a sink connects to). Admission of writes and changes of access
 * are ordered by one lock, so when {@link #fenceAndDrain} returns no admitted write from an
 * ordinary client is still running, and none will be admitted until {@link #unfence}.
 */
public final class WriteGate {
    private boolean readOnly;
    private boolean fenced;
    private int writesInFlight;
    /** Ordinary (non-migration) writers: connections offered a writable export, kernel devices. */
    private int writers;
    /** Set while a migration is prepared: fence when the last ordinary writer leaves. */
    private boolean fenceWhenWritersLeave;
    private Consumer<WriteGate> onAutoFence = g -> { };
    /** Set while a snapshot or clone reads the device: new writes wait rather than fail. */
    private boolean paused;

    public WriteGate(boolean readOnly) {
        this.readOnly = readOnly;
    }

    public synchronized boolean readOnlyFor(boolean privileged) {
        return readOnly || (fenced && !privileged);
    }

    public synchronized boolean readOnly() {
        return readOnly;
    }

    public synchronized void setReadOnly(boolean readOnly) {
        this.readOnly = readOnly;
    }

    public synchronized boolean fenced() {
        return fenced;
    }

    public synchronized int writesInFlight() {
        return writesInFlight;
    }

    public synchronized int writers() {
        return writers;
    }

    synchronized boolean tryBeginWrite(boolean privileged) {
        // A pause is short and the client cannot tell it from a slow disk; an error would be
        // an I/O error in the guest. Access is decided after the pause, which may have changed it.
        while (paused) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        if (readOnlyFor(privileged)) {
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

    /**
     * Holds back new writes of every client (migration sink included) and waits until admitted
     * ones completed: until {@link #resume} the device's content is a single point in time.
     * Unlike a fence nothing is refused, so a VM writing meanwhile only sees latency.
     */
    public synchronized void pauseAndDrain() throws InterruptedException {
        while (paused) {
            wait();
        }
        paused = true;
        try {
            while (writesInFlight > 0) {
                wait();
            }
        } catch (InterruptedException e) {
            resume();
            throw e;
        }
    }

    public synchronized void resume() {
        paused = false;
        notifyAll();
    }

    public synchronized boolean paused() {
        return paused;
    }

    /**
     * Refuses every ordinary writer from now on and waits until admitted writes completed.
     * Writes through a migration export are waited for too; they may continue afterwards.
     */
    public synchronized void fenceAndDrain() throws InterruptedException {
        fenced = true;
        fenceWhenWritersLeave = false;
        while (writesInFlight > 0) {
            wait();
        }
    }

    public synchronized void unfence() {
        fenced = false;
        fenceWhenWritersLeave = false;
    }

    /** Arms the automatic fence of a prepared migration; {@code action} runs when it fires. */
    public synchronized void fenceWhenWritersLeave(Consumer<WriteGate> action) {
        fenceWhenWritersLeave = true;
        onAutoFence = action;
    }

    public synchronized void disarmAutoFence() {
        fenceWhenWritersLeave = false;
    }

    public synchronized boolean autoFenceArmed() {
        return fenceWhenWritersLeave;
    }

    /**
     * A writer that can write while the volume is not fenced: an ordinary NBD connection, or a
     * writer past the gate such as a kernel device on the volume's file.
     */
    public synchronized void writerAttached() {
        writers++;
    }

    /** The writer is gone; the last one leaving a prepared migration fires the automatic fence. */
    public void writerDetached() {
        boolean fire;
        synchronized (this) {
            writers--;
            fire = writers == 0 && fenceWhenWritersLeave && !fenced;
            if (fire) {
                fenceWhenWritersLeave = false;
            }
        }
        // Outside the lock: the action drains writes, which needs the lock.
        if (fire) {
            onAutoFence.accept(this);
        }
    }
}
