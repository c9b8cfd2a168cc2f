package io.dlsm.backend.state;

import java.util.Map;
import java.util.regex.Pattern;

/**
 * Durable home of the control plane's records. A {@code put} or {@code delete} returns only
 * once the change survives a crash, so callers persist first and acknowledge after.
 *
 * <p>Deliberately generic over record kinds: the store knows nothing about nodes or migrations,
 * so a shared implementation (etcd, for operators running several backends) only has to store
 * JSON documents by key.
 *
 * <p><b>No lost updates.</b> A store instance remembers, per record, the version it last loaded
 * or wrote. {@code put} and {@code delete} are compare-and-swap against that version: when
 * another writer changed the record meanwhile (or created one this instance never loaded),
 * they throw {@link StateConflictException} and write nothing. The callers' pattern fits this
 * without knowing about versions: each service loads its records once and is then their only
 * writer, so a conflict means a second writer exists, which must stop rather than overwrite.
 * {@link FileStateStore} has a single writer by construction (one backend per state
 * directory) and never conflicts; {@link EtcdStateStore} is shared and checks it in etcd.
 *
 * <p>A shared store that cannot be reached throws {@link StateStoreUnavailableException}.
 */
public interface StateStore extends AutoCloseable {

    /** Creates or replaces the record; returns once it is durable (see the class comment). */
    <T> void put(Kind<T> kind, String id, T value);

    /** Removes the record if present; returns once the removal is durable. */
    void delete(Kind<?> kind, String id);

    /**
     * Every stored record of a kind, keyed by id; also the versions later writes compare
     * against, so reloading is how a caller catches up after a conflict.
     */
    <T> Map<String, T> loadAll(Kind<T> kind);

    @Override
    default void close() {
    }

    /**
     * Ids every store accepts, so records move between stores unchanged: they become file
     * names (no separators, no leading dot, which marks temporary files) and etcd key parts.
     */
    Pattern SAFE_ID = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");

    static String requireSafeId(String id) {
        if (id == null || !SAFE_ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id '" + id + "' cannot be stored (allowed: " + SAFE_ID + ")");
        }
        return id;
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
