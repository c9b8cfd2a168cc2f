package io.dlsm.backend.state;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Records in etcd, shared by every backend pointed at the same cluster: key
 * {@code PREFIX/KIND/ID}, value the record's JSON (the same form as {@link FileStateStore}'s
 * files). etcd acknowledges a write only once a quorum has it on disk, so a returned
 * {@code put} is durable across the loss of any minority of members.
 *
 * <p>Compare-and-swap (see {@link StateStore}): every write is one etcd transaction whose
 * guard is the key's {@code mod_revision} as this instance last saw it, or "absent"
 * ({@code version == 0}) for a key it never saw. Extra guards from {@link #guardedBy} (the
 * leader's fencing token) join the same transaction, so a write is applied only while both
 * hold.
 *
 * <p>A write whose answer did not arrive in time may still have been applied. Its key is
 * marked uncertain; before the next write of it the store reads the key back and, if it holds
 * what that write sent, adopts the new revision instead of reporting its own write as a
 * conflict.
 */
public final class EtcdStateStore implements StateStore {

    /** Guards a shared store adds to every write (e.g. "this backend still leads"). */
    public interface WriteGuard {
        /** The comparisons that must all hold for a write to be applied. */
        List<Cmp> conditions();

        /** The failure to report when a guard, not the record, made a write fail. */
        StateStoreException refused(String what);
    }

    private static final WriteGuard NO_GUARD = new WriteGuard() {
        @Override
        public List<Cmp> conditions() {
            return List.of();
        }

        @Override
        public StateStoreException refused(String what) {
            throw new IllegalStateException("no guard can refuse " + what);
        }
    };

    /** What an uncertain delete "sent": no value. */
    private static final byte[] DELETED = new byte[0];

    private final Client client;
    private final String prefix;
    private final ObjectMapper json;
    private final Duration timeout;
    /** Key -> mod_revision this instance last loaded or wrote; absent = never seen or deleted. */
    private final Map<String, Long> revisions = new HashMap<>();
    /** Key -> bytes of a write whose outcome is unknown ({@link #DELETED} for a delete). */
    private final Map<String, byte[]> uncertain = new HashMap<>();
    private volatile WriteGuard guard = NO_GUARD;

    /**
     * @param prefix  key prefix without a trailing slash, e.g. {@code /dlsm}; lets several
     *                DLSM installations (or tests) share one etcd
     * @param timeout how long one etcd call may take before it is reported unavailable
     */
    public EtcdStateStore(Client client, String prefix, ObjectMapper json, Duration timeout) {
        if (!prefix.startsWith("/") || prefix.endsWith("/")) {
            throw new IllegalArgumentException("etcd prefix must start with '/' and not end with one: " + prefix);
        }
        this.client = client;
        this.prefix = prefix;
        this.json = json;
        this.timeout = timeout;
    }

    public EtcdStateStore(Client client, String prefix) {
        this(client, prefix, RecordJson.mapper(), Duration.ofSeconds(5));
    }

    /** Adds {@code g}'s conditions to every later write (one guard at a time). */
    public void guardedBy(WriteGuard g) {
        this.guard = g;
    }

    @Override
    public synchronized <T> void put(Kind<T> kind, String id, T value) {
        String key = key(kind, id);
        byte[] content;
        try {
            content = json.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new StateStoreException("cannot encode " + kind.name() + "/" + id + ": " + e.getMessage(), e);
        }
        TxnResponse r = write(kind, id, key, content, Op.put(bytes(key), ByteSequence.from(content), PutOption.DEFAULT));
        revisions.put(key, r.getHeader().getRevision());
    }

    @Override
    public synchronized void delete(Kind<?> kind, String id) {
        String key = key(kind, id);
        write(kind, id, key, DELETED, Op.delete(bytes(key), DeleteOption.DEFAULT));
        revisions.remove(key);
    }

    @Override
    public synchronized <T> Map<String, T> loadAll(Kind<T> kind) {
        String kindPrefix = prefix + "/" + kind.name() + "/";
        GetResponse all = call("load " + kind.name(), () -> client.getKVClient()
                .get(bytes(kindPrefix), GetOption.builder().isPrefix(true).build()));
        revisions.keySet().removeIf(k -> k.startsWith(kindPrefix));
        uncertain.keySet().removeIf(k -> k.startsWith(kindPrefix));
        Map<String, T> out = new TreeMap<>();
        for (KeyValue kv : all.getKvs()) {
            String key = kv.getKey().toString(StandardCharsets.UTF_8);
            String id = key.substring(kindPrefix.length());
            try {
                out.put(id, json.readValue(kv.getValue().getBytes(), kind.type()));
            } catch (IOException e) {
                // A record we cannot read is not skipped: resuming without it could lose a migration.
                throw new StateStoreException("cannot read " + kind.name() + "/" + id + " from etcd key " + key
                        + ": " + e.getMessage(), e);
            }
            revisions.put(key, kv.getModRevision());
        }
        return out;
    }

    /** The key a record lives under; public so operators' docs and tests name it exactly. */
    public String key(Kind<?> kind, String id) {
        return prefix + "/" + kind.name() + "/" + StateStore.requireSafeId(id);
    }

    private TxnResponse write(Kind<?> kind, String id, String key, byte[] sent, Op op) {
        String what = kind.name() + "/" + id;
        byte[] lost = resolveUncertain(what, key);
        return write(kind, id, key, sent, op, what, lost);
    }

    /**
     * @param lost what a write whose answer was lost sent, or null: the client may still deliver
     *             that request after the read-back (it retries on reconnect); its transaction is
     *             conditional like every other, so if it lands it is this backend's own write
     */
    private TxnResponse write(Kind<?> kind, String id, String key, byte[] sent, Op op, String what, byte[] lost) {
        Long seen = revisions.get(key);
        Cmp unchanged = seen == null
                ? new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0))
                : new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(seen));
        WriteGuard g = guard;
        Cmp[] conditions = new Cmp[1 + g.conditions().size()];
        conditions[0] = unchanged;
        for (int i = 0; i < g.conditions().size(); i++) {
            conditions[i + 1] = g.conditions().get(i);
        }
        TxnResponse r;
        try {
            r = call("write " + what, () -> client.getKVClient().txn()
                    .If(conditions)
                    .Then(op)
                    .Else(Op.get(bytes(key), GetOption.DEFAULT))
                    .commit());
        } catch (StateStoreUnavailableException e) {
            uncertain.put(key, sent);
            throw e;
        }
        if (r.isSucceeded()) {
            return r;
        }
        List<KeyValue> now = r.getGetResponses().isEmpty() ? List.of() : r.getGetResponses().get(0).getKvs();
        if (lost != null && adoptIfOwn(key, lost, now.stream().findFirst())) {
            return write(kind, id, key, sent, op, what, null);
        }
        Optional<Long> current = now.stream().findFirst().map(KeyValue::getModRevision);
        boolean recordUnchanged = seen == null ? current.isEmpty() : current.equals(Optional.of(seen));
        if (recordUnchanged) {
            // The record's own guard held (etcd read it in the same transaction), so one of
            // the extra guards failed.
            throw g.refused(what);
        }
        throw new StateConflictException(kind.name(), id, what + " was changed in etcd by another writer (key "
                + key + " now " + current.map(rev -> "at revision " + rev).orElse("absent") + ", this backend last saw "
                + (seen == null ? "no such record" : "revision " + seen) + "); nothing was written: "
                + "reload the state (restart this backend, or let the current leader act)");
    }

    /**
     * Settles a write whose answer was lost: adopt it if etcd holds what it sent. Returns what
     * it sent (null if nothing was uncertain), since it may still land later.
     */
    private byte[] resolveUncertain(String what, String key) {
        byte[] sent = uncertain.get(key);
        if (sent == null) {
            return null;
        }
        GetResponse r = call("read back " + what, () -> client.getKVClient().get(bytes(key)));
        adoptIfOwn(key, sent, r.getKvs().stream().findFirst());
        uncertain.remove(key);
        return sent;
    }

    /** True if etcd holds exactly what this backend's lost write sent: its revision is ours. */
    private boolean adoptIfOwn(String key, byte[] sent, Optional<KeyValue> kv) {
        if (sent == DELETED && kv.isEmpty()) {
            return revisions.remove(key) != null;
        }
        if (sent != DELETED && kv.isPresent() && Arrays.equals(kv.get().getValue().getBytes(), sent)
                && !Optional.ofNullable(revisions.get(key)).equals(Optional.of(kv.get().getModRevision()))) {
            revisions.put(key, kv.get().getModRevision());
            return true;
        }
        return false;
    }

    private <R> R call(String what, Supplier<CompletableFuture<R>> request) {
        CompletableFuture<R> f = request.get();
        try {
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new StateStoreUnavailableException("etcd did not answer " + what + " within " + timeout.toSeconds()
                    + " s (unreachable or without quorum); nothing is acknowledged, retry later", e);
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new StateStoreUnavailableException("interrupted while waiting for etcd to " + what, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (lostConnection(cause)) {
                throw new StateStoreUnavailableException("etcd is unavailable for " + what + ": " + cause.getMessage()
                        + "; nothing is acknowledged, retry later", cause);
            }
            throw new StateStoreException("etcd refused to " + what + ": " + cause, cause);
        }
    }

    /**
     * The connection failed under the request (etcd down, no quorum, the channel closed while the
     * call was in flight): its outcome is unknown, unlike a refusal etcd itself answered.
     */
    private static boolean lostConnection(Throwable cause) {
        if (cause instanceof EtcdException ee) {
            return ee.getErrorCode() == io.etcd.jetcd.common.exception.ErrorCode.UNAVAILABLE
                    || ee.getErrorCode() == io.etcd.jetcd.common.exception.ErrorCode.DEADLINE_EXCEEDED;
        }
        Status.Code code = Status.fromThrowable(cause).getCode();
        return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED
                || code == Status.Code.CANCELLED || code == Status.Code.UNKNOWN;
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }
}
