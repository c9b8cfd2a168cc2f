package io.dlsm.backend.state;

/**
 * The shared store (etcd) did not confirm the change in time: unreachable, no quorum, or too
 * slow. The change is not acknowledged; it may or may not have been applied, which the store
 * resolves on its next write of the same record. Retrying later is the right reaction.
 */
public final class StateStoreUnavailableException extends StateStoreException {
    public StateStoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
