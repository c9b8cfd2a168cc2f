package io.dlsm.blockd.dm;

import java.io.IOException;

/** Kernel nbd devices: attach {@code /dev/nbdN} to an NBD export, detach it. */
public interface NbdDevices {
    void connect(String device, String host, int port, String export) throws IOException;

    /** Detaches; tolerated when the device is not connected, so clean-up can be repeated. */
    void disconnect(String device) throws IOException;
}
