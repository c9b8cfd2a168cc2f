package io.dlsm.backend.state;

/** The store could not make a change durable; the change must not be acknowledged. */
public final class StateStoreException extends RuntimeException {
    public StateStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
