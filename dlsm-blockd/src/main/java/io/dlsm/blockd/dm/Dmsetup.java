package io.dlsm.blockd.dm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@link DeviceMapper} through the {@code dmsetup} tool. */
public final class Dmsetup implements DeviceMapper {
    /** Table changes are quick; suspend waits for in-flight I/O, which may sit on the network. */
    static final Duration QUICK = Duration.ofSeconds(30);
    static final Duration SUSPEND = Duration.ofSeconds(120);

    private final CommandRunner runner;
    private final Map<String, String> env;

    /**
     * @param udev whether udev runs on this node. Without it dmsetup would wait forever for
     *             udev to acknowledge the device node; {@code DM_DISABLE_UDEV=1} makes
     *             libdevmapper create /dev/mapper nodes itself.
     */
    public Dmsetup(CommandRunner runner, boolean udev) {
        this.runner = runner;
        this.env = udev ? Map.of() : Map.of("DM_DISABLE_UDEV", "1");
    }

    /** Whether udev is running here: its control socket exists. */
    public static boolean udevRunning() {
        return Files.exists(Path.of("/run/udev/control"));
    }

    @Override
    public void create(String name, String table) throws IOException {
        run(QUICK, false, "create", name, "--table", table);
    }

    @Override
    public void load(String name, String table) throws IOException {
        run(QUICK, false, "load", name, "--table", table);
    }

    @Override
    public void suspend(String name) throws IOException {
        run(SUSPEND, false, "suspend", name);
    }

    @Override
    public void resume(String name) throws IOException {
        run(QUICK, false, "resume", name);
    }

    @Override
    public void remove(String name) throws IOException {
        run(QUICK, true, "remove", name);
    }

    @Override
    public String status(String name) throws IOException {
        return run(QUICK, false, "status", name).stdout();
    }

    /** Multi-word messages ({@code hydration_threshold 8}) go as separate arguments, as dmsetup expects. */
    @Override
    public void message(String name, String message) throws IOException {
        List<String> argv = new ArrayList<>(List.of("dmsetup", "message", name, "0"));
        argv.addAll(List.of(message.split(" ")));
        runner.run(new CommandRunner.Command(argv, env, QUICK, false));
    }

    @Override
    public String table(String name) throws IOException {
        return run(QUICK, false, "table", name).stdout();
    }

    private CommandRunner.Result run(Duration timeout, boolean mayFail, String... args) throws IOException {
        String[] argv = new String[args.length + 1];
        argv[0] = "dmsetup";
        System.arraycopy(args, 0, argv, 1, args.length);
        CommandRunner.Command c = CommandRunner.Command.of(timeout, argv).withEnv(env);
        return runner.run(mayFail ? c.tolerant() : c);
    }
}
