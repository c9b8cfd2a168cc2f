package io.dlsm.tests.support;

/**
 * The seed of a randomized test: {@code -Ddlsm.test.seed=N} to replay a failure, otherwise a
 * fresh one. It is printed at once, so it is in the test output whether or not the test fails;
 * tests also put it in their assertion descriptions.
 */
public final class TestSeed {
    public static final String PROPERTY = "dlsm.test.seed";

    private TestSeed() {
    }

    public static long announce(Class<?> testClass) {
        long seed = Long.getLong(PROPERTY, System.nanoTime());
        System.out.println(testClass.getSimpleName() + " seed=" + seed + " (rerun with -D" + PROPERTY + "=" + seed + ")");
        return seed;
    }
}
