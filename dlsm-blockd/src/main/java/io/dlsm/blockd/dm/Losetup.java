package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** {@link LoopDevices} through {@code losetup}, read back through sysfs. */
public final class Losetup implements LoopDevices {
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final CommandRunner runner;
    private final Path sysRoot;

    public Losetup(CommandRunner runner, Path sysRoot) {
        this.runner = runner;
        this.sysRoot = sysRoot;
    }

    @Override
    public void attach(String device, Path file) throws IOException {
        runner.run(CommandRunner.Command.of(TIMEOUT, "losetup", device, file.toString()));
    }

    @Override
    public void detach(String device) throws IOException {
        runner.run(CommandRunner.Command.of(TIMEOUT, "losetup", "-d", device).tolerant());
    }

    /**
     * Loop devices the kernel has (/sys/block/loopN) with nothing attached, by number. Callers
     * still exclude the ones their own records name: a device is picked before it is attached.
     */
    public List<String> freeDevices() throws IOException {
        List<Integer> free = new ArrayList<>();
        Path block = sysRoot.resolve("block");
        if (!Files.isDirectory(block)) {
            return List.of();
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(block, "loop*")) {
            for (Path d : ds) {
                String n = d.getFileName().toString().substring(4);
                if (n.chars().allMatch(Character::isDigit) && !n.isEmpty()
                        && backingFile("/dev/loop" + n).isEmpty()) {
                    free.add(Integer.parseInt(n));
                }
            }
        }
        free.sort(null);
        return free.stream().map(i -> "/dev/loop" + i).toList();
    }

    @Override
    public Optional<Path> backingFile(String device) throws IOException {
        Path f = sysRoot.resolve("block").resolve(Path.of(device).getFileName().toString())
                .resolve("loop/backing_file");
        try {
            String s = Files.readString(f, StandardCharsets.UTF_8).strip();
            return s.isEmpty() ? Optional.empty() : Optional.of(Path.of(s));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }
}
