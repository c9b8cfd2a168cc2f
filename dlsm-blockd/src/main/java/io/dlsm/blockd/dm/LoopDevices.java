package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Loop devices over volume files. The caller names the device (picked free beforehand and
 * recorded in the state file first) rather than letting losetup pick one, so that a crash
 * between attach and record can never leave a loop device nobody knows it owns.
 */
public interface LoopDevices {
    void attach(String device, Path file) throws IOException;

    /** Detaches; tolerated when the device is not attached, so clean-up can be repeated. */
    void detach(String device) throws IOException;

    /** The file {@code device} is attached to, if any. */
    Optional<Path> backingFile(String device) throws IOException;
}
