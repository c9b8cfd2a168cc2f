package io.dlsm.tests.support;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * One real blockd process shared by the tests of a class: starting a JVM per test would
 * dominate the suite's time, and each test works on volumes of its own.
 */
public abstract class OneBlockdPerClass {
    @TempDir
    protected static Path tmp;
    protected static BlockdProcess blockd;

    @BeforeAll
    static void startBlockd() {
        blockd = BlockdProcess.start(tmp.resolve("data"));
    }

    @AfterAll
    static void stopBlockd() {
        if (blockd != null) {
            blockd.close();
            blockd = null;
        }
    }
}
