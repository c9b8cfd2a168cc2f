package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Finds out what the kernel path can use on this node, from sysfs/procfs and the tools. The
 * roots are parameters so tests can hand in a fake tree; nothing here changes the system
 * ({@code modprobe -n} only resolves).
 */
public final class CapabilityProbe {
    private static final Pattern NBD = Pattern.compile("nbd(\\d+)");
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final Path sysRoot;
    private final Path procRoot;
    private final CommandRunner runner;
    private final Predicate<String> installed;

    /** @param installed whether a tool is on this node's PATH */
    public CapabilityProbe(Path sysRoot, Path procRoot, CommandRunner runner, Predicate<String> installed) {
        this.sysRoot = sysRoot;
        this.procRoot = procRoot;
        this.runner = runner;
        this.installed = installed;
    }

    public static CapabilityProbe forThisNode() {
        return new CapabilityProbe(Path.of("/sys"), Path.of("/proc"), new ProcessCommandRunner(),
                CapabilityProbe::onPath);
    }

    public NodeCapabilities probe() {
        List<String> notes = new ArrayList<>();
        boolean dm = false;
        boolean clone = false;
        boolean dmKernel = Files.isDirectory(sysRoot.resolve("module/dm_mod")) || procDevicesHas("device-mapper");
        if (!dmKernel) {
            notes.add("no device-mapper in the kernel (load dm-mod)");
        } else if (!installed.test("dmsetup")) {
            notes.add("device-mapper is in the kernel but dmsetup is not installed");
        } else {
            String targets = tryRun(notes, "dmsetup", "targets");
            dm = targets != null;
            if (!dm) {
                notes.add("device-mapper is in the kernel but 'dmsetup targets' failed");
            } else {
                // Listed when loaded; otherwise it may still be loadable on first use.
                clone = targets.lines().anyMatch(l -> l.strip().startsWith("clone "))
                        || Files.isDirectory(sysRoot.resolve("module/dm_clone"))
                        || tryRun(notes, "modprobe", "-n", "dm-clone") != null;
                if (!clone) {
                    notes.add("no dm-clone target (Debian's kernels do not build CONFIG_DM_CLONE)");
                }
            }
        }
        List<String> nbdDevices = nbdDevices();
        boolean nbd = !nbdDevices.isEmpty();
        if (!nbd) {
            notes.add("no nbd devices (load nbd, e.g. modprobe nbd nbds_max=16)");
        } else if (!installed.test("nbd-client")) {
            notes.add("the nbd driver is present but nbd-client is not installed");
            nbd = false;
        }
        List<String> free = new ArrayList<>();
        for (String d : nbdDevices) {
            if (nbdFree(d)) {
                free.add("/dev/" + d);
            }
        }
        if (nbd && free.isEmpty()) {
            notes.add("every nbd device is in use (raise nbds_max)");
        }
        return new NodeCapabilities(dm, clone, nbd, free, notes);
    }

    private boolean procDevicesHas(String name) {
        try {
            return Files.readAllLines(procRoot.resolve("devices"), StandardCharsets.UTF_8).stream()
                    .anyMatch(l -> l.strip().endsWith(" " + name));
        } catch (IOException e) {
            return false;
        }
    }

    /** nbd0, nbd1, ..., nbd10 in numeric order. */
    private List<String> nbdDevices() {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(sysRoot.resolve("block"), "nbd*")) {
            for (Path p : ds) {
                if (NBD.matcher(p.getFileName().toString()).matches()) {
                    out.add(p.getFileName().toString());
                }
            }
        } catch (IOException e) {
            return out;
        }
        out.sort(Comparator.comparingInt(n -> {
            Matcher m = NBD.matcher(n);
            m.matches();
            return Integer.parseInt(m.group(1));
        }));
        return out;
    }

    /** Free = no client process attached (no {@code pid} file) and no size: nobody set it up. */
    private boolean nbdFree(String dev) {
        Path dir = sysRoot.resolve("block").resolve(dev);
        if (Files.exists(dir.resolve("pid"))) {
            return false;
        }
        try {
            return Long.parseLong(Files.readString(dir.resolve("size"), StandardCharsets.UTF_8).strip()) == 0;
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException | NumberFormatException e) {
            return false;
        }
    }

    private String tryRun(List<String> notes, String... argv) {
        try {
            CommandRunner.Result r = runner.run(CommandRunner.Command.of(TIMEOUT, argv).tolerant());
            return r.ok() ? r.stdout() : null;
        } catch (IOException e) {
            notes.add(argv[0] + ": " + e.getMessage());
            return null;
        }
    }

    static boolean onPath(String tool) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}
