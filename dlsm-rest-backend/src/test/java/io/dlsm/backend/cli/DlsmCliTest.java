package io.dlsm.backend.cli;

import static io.dlsm.backend.cli.FakeBackend.Answer;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands end to end against {@link FakeBackend}: output, exit status, requests sent. */
class DlsmCliTest {

    private static final String MIGRATIONS = "/v1/migrations";
    private static final String MIGRATION = MIGRATIONS + "/" + Canned.MIGRATION_ID;

    private FakeBackend backend;
    private final Map<String, String> variables = new HashMap<>();
    private final List<Duration> pauses = new ArrayList<>();
    private boolean interactive;
    private StringWriter out;
    private StringWriter err;

    @BeforeEach
    void start() throws IOException {
        backend = new FakeBackend();
        variables.put("DLSM_BACKEND", backend.url());
    }

    @AfterEach
    void stop() {
        backend.close();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        // The pacer records instead of sleeping: the tests never depend on time.
        CliEnvironment environment = new CliEnvironment(variables, interactive, pauses::add);
        return DlsmCli.commandLine(environment)
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true))
                .execute(args);
    }

    @Test
    void volumeCreateSendsTheContractsBodyAndSaysWhatExists() {
        backend.on("POST", "/v1/volumes", 201, Canned.volume("demo", 10L << 30, "node-a", "AVAILABLE"));

        assertThat(run("volume", "create", "demo", "--size", "10G", "--node", "node-a")).isZero();

        assertThat(out.toString()).isEqualTo("volume demo: 10.0 GiB on node-a, AVAILABLE\n");
        FakeBackend.Request request = backend.requests().get(0);
        assertThat(request.body()).isEqualTo("{\"name\":\"demo\",\"sizeBytes\":10737418240,\"node\":\"node-a\"}");
        assertThat(request.authorization()).isNull();
    }

    @Test
    void badSizeIsAUsageError() {
        assertThat(run("volume", "create", "demo", "--size", "ten", "--node", "node-a")).isEqualTo(DlsmCli.EXIT_USAGE);
        assertThat(err.toString()).contains("'ten' is not a size");
        assertThat(backend.requests()).isEmpty();
    }

    @Test
    void missingSubcommandIsAUsageError() {
        assertThat(run()).isEqualTo(DlsmCli.EXIT_USAGE);
        assertThat(run("volume")).isEqualTo(DlsmCli.EXIT_USAGE);
        assertThat(err.toString()).contains("a subcommand is required: create, list, show, delete");
    }

    @Test
    void volumeListIsATable() {
        backend.on("GET", "/v1/volumes", 200, "[" + Canned.volume("demo", 512L << 20, "node-a", "MIGRATING")
                .replace("}", ",\"migrationId\":\"m-1\"}") + "," + Canned.volume("big", 10L << 30, "node-b", "AVAILABLE") + "]");

        assertThat(run("volume", "list")).isZero();

        assertThat(out.toString()).isEqualTo(
                "NAME  SIZE       NODE    STATE      MIGRATION\n"
                + "demo  512.0 MiB  node-a  MIGRATING  m-1\n"
                + "big   10.0 GiB   node-b  AVAILABLE  -\n");
    }

    @Test
    void jsonPrintsTheBackendsDocumentAsIs() {
        String volume = Canned.volume("demo", 512L << 20, "node-a", "AVAILABLE");
        backend.on("GET", "/v1/volumes/demo", 200, volume);

        assertThat(run("volume", "show", "demo", "--json")).isZero();
        assertThat(out.toString()).isEqualTo(volume + "\n");

        // Global options may also come before the subcommand.
        assertThat(run("--json", "volume", "show", "demo")).isZero();
        assertThat(out.toString()).isEqualTo(volume + "\n");
    }

    @Test
    void volumeShowListsTheFields() {
        backend.on("GET", "/v1/volumes/demo", 200, Canned.volume("demo", 512L << 20, "node-a", "AVAILABLE"));

        assertThat(run("volume", "show", "demo")).isZero();

        assertThat(out.toString()).isEqualTo(
                "name       demo\n"
                + "size       512.0 MiB (536870912 bytes)\n"
                + "node       node-a\n"
                + "state      AVAILABLE\n"
                + "migration  -\n"
                + "created    2026-01-05T10:00:00Z\n");
    }

    @Test
    void notFoundIsTheBackendsMessageAndExitOne() {
        backend.on("GET", "/v1/volumes/nope", 404, Canned.error("not_found", "volume 'nope' does not exist"));

        assertThat(run("volume", "show", "nope")).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(err.toString()).isEqualTo("error: volume 'nope' does not exist (not_found)\n");
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void conflictIsTheBackendsMessageAndExitOne() {
        backend.on("DELETE", "/v1/volumes/demo", 409, Canned.error("conflict", "volume 'demo' is migrating"));

        assertThat(run("volume", "delete", "demo")).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(err.toString()).isEqualTo("error: volume 'demo' is migrating (conflict)\n");
    }

    @Test
    void volumeDelete() {
        backend.on("DELETE", "/v1/volumes/demo", 204, "");

        assertThat(run("volume", "delete", "demo")).isZero();
        assertThat(out.toString()).isEqualTo("volume demo deleted\n");

        assertThat(run("volume", "delete", "demo", "--json")).isZero();
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void tokenFromTheTokenFileIsSentAndUnauthorizedIsExitOne(@TempDir Path dir) throws IOException {
        Path token = Files.writeString(dir.resolve("token"), "s3cret\n");
        backend.on("GET", "/v1/nodes", 401, Canned.error("unauthorized", "missing or invalid bearer token"));

        assertThat(run("node", "list", "--token-file", token.toString())).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(err.toString()).isEqualTo("error: missing or invalid bearer token (unauthorized)\n");
        assertThat(backend.requests().get(0).authorization()).isEqualTo("Bearer s3cret");
    }

    @Test
    void tokenFileFromTheEnvironment(@TempDir Path dir) throws IOException {
        variables.put("DLSM_TOKEN_FILE", Files.writeString(dir.resolve("token"), "t0ken").toString());
        backend.on("GET", "/v1/nodes", 200, "[]");

        assertThat(run("node", "list")).isZero();
        assertThat(backend.requests().get(0).authorization()).isEqualTo("Bearer t0ken");
    }

    @Test
    void unreadableTokenFileIsAUsageError(@TempDir Path dir) {
        assertThat(run("node", "list", "--token-file", dir.resolve("missing").toString())).isEqualTo(DlsmCli.EXIT_USAGE);
        assertThat(err.toString()).contains("cannot read token file");
    }

    @Test
    void connectionRefusedIsExitThree() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }

        assertThat(run("--backend", "http://127.0.0.1:" + closedPort, "node", "list")).isEqualTo(DlsmCli.EXIT_UNREACHABLE);

        assertThat(err.toString()).isEqualTo(
                "error: cannot reach the backend at http://127.0.0.1:" + closedPort + ": connection refused\n");
    }

    @Test
    void backendThatIsNotAUrlIsAUsageError() {
        assertThat(run("--backend", "localhost:7800", "node", "list")).isEqualTo(DlsmCli.EXIT_USAGE);
        assertThat(err.toString()).contains("is not an http URL");
        assertThat(run("--backend", "ftp://127.0.0.1:7800", "node", "list")).isEqualTo(DlsmCli.EXIT_USAGE);
    }

    @Test
    void helpOfASubcommandShowsTheGlobalOptionsToo() {
        assertThat(run("migrate", "--help")).isZero();
        assertThat(out.toString()).contains("--to=NODE", "--bandwidth=RATE", "--no-wait", "--json", "--backend=URL");
    }

    @Test
    void backendOptionOverridesTheEnvironment() {
        variables.put("DLSM_BACKEND", "http://127.0.0.1:1");
        backend.on("GET", "/v1/nodes", 200, "[]");

        assertThat(run("node", "list", "--backend", backend.url())).isZero();
    }

    @Test
    void nodeListIsATable() {
        backend.on("GET", "/v1/nodes", 200, "[" + Canned.node("node-a", 10809, "UP") + "," + Canned.node("node-b", 10811, "DOWN") + "]");

        assertThat(run("node", "list")).isZero();

        assertThat(out.toString()).isEqualTo(
                "NAME    STATE  NBD              API                     FREE      CAPACITY   LAST HEARTBEAT        "
                + "NODE AUTH   BACKEND AUTH\n"
                + "node-a  UP     127.0.0.1:10809  http://127.0.0.1:10810  50.0 GiB  100.0 GiB  2026-01-05T10:00:05Z  "
                + "credential  token\n"
                + "node-b  DOWN   127.0.0.1:10811  http://127.0.0.1:10812  50.0 GiB  100.0 GiB  2026-01-05T10:00:05Z  "
                + "credential  token\n");
    }

    @Test
    void resetCredentialCallsTheBackendWithTheStateDirsToken() throws Exception {
        java.nio.file.Path state = java.nio.file.Files.createTempDirectory("dlsm-cli-state");
        java.nio.file.Files.writeString(state.resolve("api-token"), "from-state-dir\n");
        backend.on("DELETE", "/v1/nodes/node-a/credential", 200, Canned.node("node-a", 10809, "UP"));

        assertThat(run("node", "reset-credential", "node-a", "--state-dir", state.toString())).isZero();

        assertThat(out.toString()).contains("credential of node node-a reset");
        assertThat(backend.requests()).extracting(FakeBackend.Request::authorization)
                .containsExactly("Bearer from-state-dir");
    }

    @Test
    void migrateLogsOneLinePerPollWithoutATerminalThenReports() {
        backend.on("POST", MIGRATIONS, 201, Canned.migration("PREPARED", 0, null));
        backend.on("GET", MIGRATION,
                new Answer(200, Canned.migration("ACTIVE", 128, null)),
                new Answer(200, Canned.migration("DEGRADED", 384, "node-a does not answer")),
                new Answer(200, Canned.migration("COMMITTED", 512, null)));

        assertThat(run("migrate", "demo", "--to", "node-b", "--bandwidth", "100M")).isZero();

        assertThat(out.toString()).startsWith(
                "migration m-1: volume demo node-a -> node-b\n"
                + "PREPARED  0.0%  0 B/s  ETA -  on-demand 3.0 MiB  background 0 B  wire 3.0 MiB\n"
                + "ACTIVE  25.0%  20.0 MiB/s  ETA 12s  on-demand 3.0 MiB  background 64.0 MiB  wire 67.0 MiB\n"
                + "DEGRADED  75.0%  20.0 MiB/s  ETA 12s  on-demand 3.0 MiB  background 192.0 MiB  wire 195.0 MiB\n"
                + "COMMITTED  100.0%  0 B/s  ETA -  on-demand 3.0 MiB  background 256.0 MiB  wire 259.0 MiB\n"
                + "migration m-1: volume demo  node-a -> node-b  COMMITTED\n");
        assertThat(out.toString()).contains("t1 -> t2 (hydration)         11.00 s");
        assertThat(pauses).hasSize(3).containsOnly(MigrateCommand.LOG_INTERVAL);
        assertThat(backend.requests().get(0).body()).isEqualTo(
                "{\"volume\":\"demo\",\"targetNode\":\"node-b\",\"bandwidthBytesPerSecond\":104857600,\"switchMode\":\"auto\"}");
    }

    @Test
    void migrateRedrawsABarOnATerminal() {
        interactive = true;
        variables.put("COLUMNS", "120");
        backend.on("POST", MIGRATIONS, 201, Canned.migration("ACTIVE", 256, null));
        backend.on("GET", MIGRATION, 200, Canned.migration("COMMITTED", 512, null));

        assertThat(run("migrate", "demo", "--to", "node-b")).isZero();

        assertThat(out.toString()).contains(
                "\rACTIVE    [###############---------------]   50.0%  20.0 MiB/s  ETA 12s    on-demand 3.0 MiB    "
                        + "background 128.0 MiB\033[K\rCOMMITTED [##############################]  100.0%",
                "\033[K\nmigration m-1: volume demo  node-a -> node-b  COMMITTED\n");
        assertThat(pauses).containsOnly(MigrateCommand.TERMINAL_INTERVAL);
    }

    @Test
    void migrateThatEndsAbortedIsExitOne() {
        backend.on("POST", MIGRATIONS, 201, Canned.migration("ACTIVE", 10, null));
        backend.on("GET", MIGRATION, 200, Canned.migration("ABORTED", 10, "aborted by the operator"));

        assertThat(run("migrate", "demo", "--to", "node-b")).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(out.toString()).contains("ABORTED", "error                        aborted by the operator");
        assertThat(err.toString()).isEqualTo("error: migration m-1 ended ABORTED: aborted by the operator\n");
    }

    @Test
    void migrateWithJsonPrintsOnlyTheFinalDocument() {
        String committed = Canned.migration("COMMITTED", 512, null);
        backend.on("POST", MIGRATIONS, 201, Canned.migration("PREPARED", 0, null));
        backend.on("GET", MIGRATION, new Answer(200, Canned.migration("ACTIVE", 100, null)), new Answer(200, committed));

        assertThat(run("migrate", "demo", "--to", "node-b", "--json")).isZero();

        assertThat(out.toString()).isEqualTo(committed + "\n");
    }

    @Test
    void migrateNoWaitReturnsAtOnce() {
        backend.on("POST", MIGRATIONS, 201, Canned.migration("PREPARED", 0, null));

        assertThat(run("migrate", "demo", "--to", "node-b", "--no-wait", "--manual-switch")).isZero();

        assertThat(out.toString()).isEqualTo("migration m-1: volume demo node-a -> node-b, PREPARED\n");
        assertThat(backend.requests()).hasSize(1);
        assertThat(backend.requests().get(0).body()).isEqualTo(
                "{\"volume\":\"demo\",\"targetNode\":\"node-b\",\"switchMode\":\"manual\"}");
    }

    @Test
    void migrateToWhereItIsIsAConflict() {
        backend.on("POST", MIGRATIONS, 409, Canned.error("conflict", "volume 'demo' is already on node-a"));

        assertThat(run("migrate", "demo", "--to", "node-a")).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(err.toString()).isEqualTo("error: volume 'demo' is already on node-a (conflict)\n");
    }

    @Test
    void migrationListShowAndSteering() {
        backend.on("GET", MIGRATIONS, 200, "[" + Canned.migration("ACTIVE", 256, null) + "]");
        backend.on("GET", MIGRATION, 200, Canned.migration("ACTIVE", 256, null));
        backend.on("POST", MIGRATION + "/abort", 200, Canned.migration("ABORTED", 256, null));
        backend.on("POST", MIGRATION + "/switch", 200, Canned.migration("ACTIVE", 0, null));
        backend.on("PUT", MIGRATION + "/bandwidth", 200, Canned.migration("ACTIVE", 256, null));

        assertThat(run("migration", "list")).isZero();
        assertThat(out.toString()).isEqualTo(
                "ID   VOLUME  SOURCE  TARGET  PHASE   PROGRESS  UPDATED\n"
                + "m-1  demo    node-a  node-b  ACTIVE  50.0%     2026-01-05T10:00:12.500Z\n");

        assertThat(run("migration", "show", "m-1")).isZero();
        assertThat(out.toString()).startsWith("migration m-1: volume demo  node-a -> node-b  ACTIVE\n");

        assertThat(run("migration", "abort", "m-1")).isZero();
        assertThat(out.toString()).isEqualTo("migration m-1: volume demo node-a -> node-b, ABORTED\n");

        assertThat(run("migration", "switch", "m-1")).isZero();
        assertThat(out.toString()).isEqualTo("migration m-1: volume demo node-a -> node-b, ACTIVE\n");

        assertThat(run("migration", "bandwidth", "m-1", "50M/s")).isZero();
        assertThat(out.toString()).isEqualTo("migration m-1: ACTIVE, background copy limit 50.0 MiB/s\n");
        assertThat(backend.requests().get(backend.requests().size() - 1).body()).isEqualTo("{\"bytesPerSecond\":52428800}");
    }

    @Test
    void errorWithoutTheContractsBodyStillSaysSomething() {
        backend.on("GET", MIGRATION, 502, "Bad Gateway");

        assertThat(run("migration", "show", "m-1")).isEqualTo(DlsmCli.EXIT_FAILED);

        assertThat(err.toString()).isEqualTo("error: Bad Gateway (http_502)\n");
    }
}
