package io.dlsm.backend.state;

import java.util.Map;

/**
 * Durable home of the control plane's records. A {@code put} or {@code delete} returns only
 * once the change survives a crash, so callers persist first and acknowledge after.
 *
 * <p>Deliberately generic over record kinds: the store knows nothing about nodes or migrations,
 * so a shared implementation (etcd, for operators running several backends) only has to store
 * JSON documents by key.
 */
public interface StateStore extends AutoCloseable {

    <T> void put(Kind<T> kind, String id, T value);

    void delete(Kind<?> kind, String id);

    /** Every stored record of a kind, keyed by id. */
    <T> Map<String, T> loadAll(Kind<T> kind);

    @Override
    default void close() {
    }

    /** A collection of records of one type, e.g. {@code nodes} of {@code Node}. */
    record Kind<T>(String name, Class<T> type) {
        public Kind {
            if (!name.matches("[a-z][a-z0-9-]*")) {
                throw new IllegalArgumentException("bad kind name '" + name + "'");
            }
        }
    }
}
