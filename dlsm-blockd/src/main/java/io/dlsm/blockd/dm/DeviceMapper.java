package io.dlsm.blockd.dm;

import java.io.IOException;

/** The device-mapper operations the kernel path needs, by device name (as in /dev/mapper/NAME). */
public interface DeviceMapper {
    void create(String name, String table) throws IOException;

    /** Loads {@code table} as the inactive table; it takes effect on {@link #resume}. */
    void load(String name, String table) throws IOException;

    /** Suspends, waiting for in-flight I/O to finish (flushing it to the current table). */
    void suspend(String name) throws IOException;

    void resume(String name) throws IOException;

    /** Removes the device; tolerated when it does not exist, so clean-up can be repeated. */
    void remove(String name) throws IOException;

    /** The status line(s), e.g. {@code 0 65536 clone 8 6/1024 64 0/1024 0 1 no_hydration ...}. */
    String status(String name) throws IOException;

    /** {@code dmsetup message NAME 0 MESSAGE}. */
    void message(String name, String message) throws IOException;

    /** The active table. */
    String table(String name) throws IOException;
}
