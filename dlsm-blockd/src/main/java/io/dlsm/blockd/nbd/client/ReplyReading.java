package io.dlsm.blockd.nbd.client;

/** Who reads an {@link NbdClient}'s replies off the socket. */
public enum ReplyReading {
    /** A reader thread of the connection: any number of requests in flight, from any threads. */
    READER_THREAD,
    /**
     * The thread that sent the request, one request at a time on the connection. The reply wakes
     * the waiting thread itself rather than a reader thread that must then wake it: one thread
     * hand-off less, which on a busy node is what a latency-bound request (a guest waiting for a
     * first-touch fetch) mostly waits for. Concurrent requesters want one connection each.
     */
    REQUESTER
}
