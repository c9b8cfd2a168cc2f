package io.dlsm.backend.cli;

/** No answer at all: connection refused, timed out, or a body that is not the API's JSON. */
public final class BackendUnreachableException extends RuntimeException {

    public BackendUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
