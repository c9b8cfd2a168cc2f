package io.dlsm.tests.state;

import io.dlsm.backend.state.FileStateStore;
import io.dlsm.backend.state.StateStore;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The contract on the embedded store: files under one directory. */
class FileStateStoreContractTest extends StateStoreContract {

    @TempDir
    Path dir;

    @Override
    StateStore open() {
        return new FileStateStore(dir);
    }
}
