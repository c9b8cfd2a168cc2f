package io.dlsm.blockd.nbd.client;

import io.dlsm.blockd.nbd.Request;

/** WRITE, FLUSH, TRIM, WRITE_ZEROES: the reply carries only success or an error. */
final class CompletionInFlight extends InFlight<Void> {
    CompletionInFlight(Request request) {
        super(request);
    }

    @Override
    Void result() {
        return null;
    }
}
