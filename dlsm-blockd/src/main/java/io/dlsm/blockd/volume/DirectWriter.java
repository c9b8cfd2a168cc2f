package io.dlsm.blockd.volume;

import java.io.IOException;

/**
 * Something on this node that writes a volume's data file without going through its NBD
 * exports, and so past their write gate: the hypervisor's /dev/mapper/dlsm-VOL over a loop
 * device on the file. The store counts it as a writer (a migration must not switch while it
 * may still write) and stops it when the volume is fenced, since nothing else can.
 */
public interface DirectWriter {
    /**
     * Stops every read and write through this path; returns once the writes it had admitted
     * have reached the file (the caller then makes the file durable).
     */
    void fence() throws IOException;

    /** Lets reads and writes through again. */
    void unfence() throws IOException;

    /** What it is, for messages: e.g. "kernel device /dev/mapper/dlsm-vol1". */
    String describe();
}
