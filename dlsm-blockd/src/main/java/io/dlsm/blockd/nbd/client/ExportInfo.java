package io.dlsm.blockd.nbd.client;

/** What the server told us about the export during the handshake. */
public record ExportInfo(String name, long size, int transmissionFlags, BlockSizeConstraints blockSize) {
    public boolean hasFlag(int flag) {
        return (transmissionFlags & flag) != 0;
    }
}
