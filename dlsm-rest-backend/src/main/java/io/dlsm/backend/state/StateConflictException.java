package io.dlsm.backend.state;

/**
 * Another writer changed a record since this store last read or wrote it, so writing now
 * would silently overwrite that change. Nothing was written; the caller must reload first
 * (with several backends on one etcd this means another backend wrote, normally a newer
 * leader).
 */
public final class StateConflictException extends StateStoreException {

    private final String kind;
    private final String id;

    public StateConflictException(String kind, String id, String message) {
        super(message, null);
        this.kind = kind;
        this.id = id;
    }

    public String kind() {
        return kind;
    }

    public String id() {
        return id;
    }
}
