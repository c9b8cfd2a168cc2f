package io.dlsm.backend.state;

/**
 * The store could not make a change durable; the change must not be acknowledged. The two
 * subclasses name the failures a caller can act on; this class itself is a local failure
 * (disk full, unreadable record) that needs an operator.
 */
public sealed class StateStoreException extends RuntimeException
        permits StateConflictException, StateStoreUnavailableException {
    public StateStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
