package io.dlsm.blockd.dm;

import io.dlsm.blockd.api.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The real dmsetup/nbd-client/losetup wrappers over a recording runner, a fake sysfs, a state dir. */
final class KernelPathFixture {
    final RecordingCommandRunner runner = new RecordingCommandRunner();
    final Path sys;
    final KernelPathStore store;
    final KernelPaths paths;

    KernelPathFixture(Path dir) throws IOException {
        sys = Files.createDirectories(dir.resolve("sys"));
        store = new KernelPathStore(dir.resolve("kernel"), Json.newMapper());
        paths = new KernelPaths(new Dmsetup(runner, false), new NbdClientDevices(runner), new Losetup(runner, sys),
                store);
    }

    /** Makes {@code /dev/loopN} look attached to {@code file} in the fake sysfs. */
    void loopAttached(String device, Path file) throws IOException {
        Path d = Files.createDirectories(sys.resolve("block").resolve(Path.of(device).getFileName().toString())
                .resolve("loop"));
        Files.writeString(d.resolve("backing_file"), file + "\n");
    }
}
