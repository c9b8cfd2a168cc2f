package io.dlsm.backend.cli;

import io.dlsm.backend.BackendInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code dlsm}: the operator's command line for the DLSM backend. Holds the global options
 * (inherited, so they may also follow a subcommand) and builds the subcommand tree.
 */
@Command(
        name = "dlsm",
        mixinStandardHelpOptions = true,
        // Subcommands inherit --help and --version along with the global options.
        scope = ScopeType.INHERIT,
        versionProvider = DlsmCli.Version.class,
        description = "Manage DLSM volumes, nodes and live migrations through the backend's REST API.",
        footer = {"", "Exit status: 0 ok, 1 the operation failed, 2 usage error, 3 backend unreachable."})
public final class DlsmCli implements Runnable {

    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_UNREACHABLE = 3;

    static final String DEFAULT_BACKEND = "http://127.0.0.1:7800";

    @Option(names = "--backend", paramLabel = "URL", scope = ScopeType.INHERIT,
            description = "Backend base URL (default: $DLSM_BACKEND, else " + DEFAULT_BACKEND + ").")
    private String backend;

    @Option(names = "--token-file", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "File holding the backend's API token (default: $DLSM_TOKEN_FILE, else the "
                    + "api-token in --state-dir; neither: no token).")
    private Path tokenFile;

    @Option(names = "--state-dir", paramLabel = "DIR", scope = ScopeType.INHERIT,
            description = "The backend's state directory, whose api-token the CLI sends when no token file is "
                    + "given (default: $DLSM_STATE_DIR).")
    private Path stateDir;

    @Option(names = "--json", scope = ScopeType.INHERIT,
            description = "Print the backend's JSON instead of text, for scripts.")
    private boolean json;

    @Spec
    private CommandSpec spec;

    private final CliEnvironment environment;

    public DlsmCli(CliEnvironment environment) {
        this.environment = environment;
    }

    public static void main(String[] args) {
        System.exit(commandLine(CliEnvironment.ofProcess()).execute(args));
    }

    /** The whole command tree, with backend errors mapped to messages and exit codes. */
    public static CommandLine commandLine(CliEnvironment environment) {
        DlsmCli root = new DlsmCli(environment);
        CommandLine cli = new CommandLine(root)
                .addSubcommand(new CommandLine(new VolumeCommands.Group())
                        .addSubcommand(new VolumeCommands.Create(root))
                        .addSubcommand(new VolumeCommands.ListVolumes(root))
                        .addSubcommand(new VolumeCommands.Show(root))
                        .addSubcommand(new VolumeCommands.Delete(root)))
                .addSubcommand(new CommandLine(new NodeCommands.Group())
                        .addSubcommand(new NodeCommands.ListNodes(root))
                        .addSubcommand(new NodeCommands.ResetCredential(root)))
                .addSubcommand(new MigrateCommand(root))
                .addSubcommand(new CommandLine(new MigrationCommands.Group())
                        .addSubcommand(new MigrationCommands.ListMigrations(root))
                        .addSubcommand(new MigrationCommands.Show(root))
                        .addSubcommand(new MigrationCommands.Abort(root))
                        .addSubcommand(new MigrationCommands.Switch(root))
                        .addSubcommand(new MigrationCommands.Bandwidth(root)));
        cli.setExecutionExceptionHandler((e, command, parseResult) -> {
            PrintWriter err = command.getErr();
            if (e instanceof BackendException backendError) {
                err.println("error: " + backendError.getMessage() + " (" + backendError.code() + ")");
                return EXIT_FAILED;
            }
            if (e instanceof BackendUnreachableException unreachable) {
                err.println("error: " + unreachable.getMessage());
                return EXIT_UNREACHABLE;
            }
            throw e;
        });
        return cli;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    boolean json() {
        return json;
    }

    CliEnvironment environment() {
        return environment;
    }

    /** A client for the chosen backend; reads the token file now, so a bad one is a usage error. */
    BackendClient client() {
        String url = Optional.ofNullable(backend)
                .or(() -> Optional.ofNullable(environment.variables().get("DLSM_BACKEND")).filter(v -> !v.isBlank()))
                .orElse(DEFAULT_BACKEND);
        URI base;
        try {
            base = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--backend: '" + url + "' is not a URL");
        }
        if (!"http".equals(base.getScheme()) && !"https".equals(base.getScheme()) || base.getHost() == null) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "--backend: '" + url + "' is not an http URL such as " + DEFAULT_BACKEND);
        }
        return BackendClient.create(base, token());
    }

    private Optional<String> token() {
        Optional<Path> file = Optional.ofNullable(tokenFile)
                .or(() -> Optional.ofNullable(environment.variables().get("DLSM_TOKEN_FILE"))
                        .filter(v -> !v.isBlank())
                        .map(Path::of))
                .or(() -> Optional.ofNullable(stateDir)
                        .or(() -> Optional.ofNullable(environment.variables().get("DLSM_STATE_DIR"))
                                .filter(v -> !v.isBlank()).map(Path::of))
                        .map(d -> d.resolve("api-token")));
        if (file.isEmpty()) {
            return Optional.empty();
        }
        try {
            String token = Files.readString(file.get(), StandardCharsets.UTF_8).strip();
            if (token.isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "token file " + file.get() + " is empty");
            }
            return Optional.of(token);
        } catch (IOException e) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "cannot read token file " + file.get() + ": " + e.getMessage());
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"dlsm " + BackendInfo.buildVersion()};
        }
    }
}
