package io.dlsm.tests.state;

import io.dlsm.backend.state.EtcdStateStore;
import io.dlsm.backend.state.StateStore;
import io.dlsm.tests.support.EtcdProcess;
import io.etcd.jetcd.Client;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** The same contract on etcd: one real etcd for the class, a fresh key prefix per test. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EtcdStateStoreContractTest extends StateStoreContract {

    private EtcdProcess etcd;
    private Client client;
    private final AtomicInteger tests = new AtomicInteger();
    private String prefix;

    @BeforeAll
    void startEtcd(@TempDir Path dir) {
        etcd = EtcdProcess.start(dir.resolve("etcd"));
        client = Client.builder().endpoints(etcd.endpoint()).build();
    }

    @AfterAll
    void stopEtcd() {
        if (client != null) {
            client.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    @BeforeEach
    void freshPrefix() {
        prefix = "/contract/t" + tests.incrementAndGet();
    }

    @Override
    StateStore open() {
        return new EtcdStateStore(client, prefix);
    }
}
