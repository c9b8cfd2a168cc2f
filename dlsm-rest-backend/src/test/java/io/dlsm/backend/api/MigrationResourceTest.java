package io.dlsm.backend.api;

import static io.dlsm.backend.api.VolumeResourceTest.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.ArgumentMatchers.argThat;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.dlsm.backend.migration.MigrationPhase;
import io.dlsm.backend.migration.PendingAction;
import io.dlsm.backend.node.BlockdSink;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.node.NodeClient;
import io.dlsm.backend.server.ApiTestSupport;
import io.dlsm.backend.server.ControlPlane;
import io.dlsm.backend.state.FileStateStore;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mockito.InOrder;

class MigrationResourceTest extends ApiTestSupport {

    static final long SIZE = 64L << 20;

    @BeforeEach
    void clusterWithAVolume() {
        post("/v1/nodes", NodeResourceTest.registration("n1", 7000)).close();
        post("/v1/nodes", NodeResourceTest.registration("n2", 7100)).close();
        when(nodeClient().createVolume(any(), any(), anyLong()))
                .thenAnswer(i -> new BlockdVolume(i.getArgument(1), i.getArgument(2), 0, false, 0, null));
        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).getStatus())
                .isEqualTo(201);
        when(nodeClient().openMigrationExport(any(), eq("v1"))).thenReturn("v1@tok");
        sourceReports(1, false);
        when(nodeClient().createSink(any(), eq("v1"), any(), eq(7001), eq("v1@tok"), anyLong()))
                .thenReturn(sink("PROXY", 0));
    }

    @Test
    void createPreparesOnBothNodesAndRetriesGetTheSameMigration() {
        Response r = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"));

        assertThat(r.getStatus()).isEqualTo(201);
        Map<String, Object> m = json(r);
        assertThat(m).containsEntry("phase", "PREPARED").containsEntry("sourceNode", "n1")
                .containsEntry("targetNode", "n2").containsEntry("switchMode", "auto").containsKey("progress");
        verify(nodeClient()).createSink(any(), eq("v1"), eq("127.0.0.1"), eq(7001), eq("v1@tok"), eq(0L));
        verify(nodeClient(), never()).fence(any(), any());

        Response again = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"));
        assertThat(again.getStatus()).isEqualTo(200);
        assertThat(json(again).get("id")).isEqualTo(m.get("id"));
        assertThat(json(target("/v1/volumes/v1").request().get())).containsEntry("state", "MIGRATING")
                .containsEntry("migrationId", m.get("id"));
        // Extend and delete wait for the migration.
        assertThat(target("/v1/volumes/v1/size").request()
                .put(Entity.json(Map.of("sizeBytes", 2 * SIZE))).getStatus()).isEqualTo(409);
        assertThat(target("/v1/volumes/v1").request().delete().getStatus()).isEqualTo(409);
        assertThat(target("/v1/migrations/" + m.get("id")).request().get().getStatus()).isEqualTo(200);
        assertThat(target("/v1/migrations/nope").request().get().getStatus()).isEqualTo(404);
    }

    @Test
    void targetsThatCannotBeUsedAreRefusedNamingTheNode() {
        Response same = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n1"));
        assertThat(same.getStatus()).isEqualTo(409);
        assertThat((String) json(same).get("message")).contains("already on node 'n1'");

        Response unknown = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n9"));
        assertThat(unknown.getStatus()).isEqualTo(400);
        Map<String, Object> error = json(unknown);
        assertThat(error.get("details")).isEqualTo(Map.of("field", "targetNode"));
        assertThat((String) error.get("message")).contains("n9");

        assertThat(post("/v1/migrations", Map.of("volume", "nope", "targetNode", "n2")).getStatus()).isEqualTo(404);
        Response mode = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2", "switchMode", "later"));
        assertThat(mode.getStatus()).isEqualTo(400);
        assertThat(json(mode).get("details")).asInstanceOf(org.assertj.core.api.InstanceOfAssertFactories.MAP)
                .containsEntry("field", "switchMode");
    }

    @Test
    void autoModeSwitchesAtOnceWhenTheVolumeHasNoWriter() {
        sourceReports(0, false);
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.1));

        Map<String, Object> m = json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2")));

        assertThat(m).containsEntry("phase", "ACTIVE");
        InOrder order = inOrder(nodeClient());
        order.verify(nodeClient()).fence(any(), eq("v1"));
        order.verify(nodeClient()).activateFencedSink(any(), eq("v1"));
    }

    @Test
    void aTargetSinkOutOfSpaceShowsInTheMigrationWithTheNodeAndClearsWhenItResumes() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");
        drive(id);
        sourceReports(0, true);
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.2));
        BlockdSink full = new BlockdSink("v1", "ACTIVE", 1024, 200, 0.2, 0, 0, 0, 0, 0, 0, null, null, null, null,
                "no space left for sink v1 on this node: free space in /var/lib/dlsm/sinks", "NO_SPACE", null);
        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(full));
        drive(id);
        drive(id);
        @SuppressWarnings("unchecked")
        Map<String, Object> progress = (Map<String, Object>) json(target("/v1/migrations/" + id).request().get())
                .get("progress");
        assertThat(progress).containsEntry("condition", "NO_SPACE");
        assertThat((String) progress.get("conditionMessage")).isEqualTo(
                "node 'n2': no space left for sink v1 on this node: free space in /var/lib/dlsm/sinks");

        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ACTIVE", 0.3)));
        drive(id);
        @SuppressWarnings("unchecked")
        Map<String, Object> after = (Map<String, Object>) json(target("/v1/migrations/" + id).request().get())
                .get("progress");
        assertThat(after.get("conditionMessage")).isNull();
    }

    @Test
    void aSourceNodeReRegisteredOnANewNbdPortGetsItsSinkRepointedOnce() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2",
                "switchMode", "manual"))).get("id");
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.1));
        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ACTIVE", 0.1)));
        assertThat(target("/v1/migrations/" + id + "/switch").request().post(Entity.json("")).getStatus())
                .isEqualTo(200);
        drive(id);
        verify(nodeClient(), never()).repointSink(any(), any(), any(), anyInt());

        // n1 restarted: NBD on 7301 now, while the sink still reads 7001.
        post("/v1/nodes", NodeResourceTest.registration("n1", 7300)).close();
        BlockdSink moved = new BlockdSink("v1", "ACTIVE", 1024, 200, 0.2, 0, 0, 0, 0, 0, 0, null, null, null, null,
                null, "OK", "nbd://127.0.0.1:7301/v1@tok");
        when(nodeClient().repointSink(any(), eq("v1"), eq("127.0.0.1"), eq(7301))).thenAnswer(i -> {
            when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(moved));
            return moved;
        });
        drive(id);
        drive(id);
        verify(nodeClient(), times(1)).repointSink(argThat(n -> n.name().equals("n2")), eq("v1"), eq("127.0.0.1"),
                eq(7301));
        assertThat(phase(id)).isEqualTo("ACTIVE");
    }

    @Test
    void watcherSwitchesWhenTheSourceFencedItselfAndCompletesOnCommit() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");
        drive(id);
        assertThat(phase(id)).isEqualTo("PREPARED");

        sourceReports(0, true); // The VM left; blockd fenced the source.
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.2));
        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ACTIVE", 0.2)));
        drive(id);
        assertThat(phase(id)).isEqualTo("ACTIVE");

        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("HYDRATED", 1.0)));
        drive(id);
        assertThat(phase(id)).isEqualTo("HYDRATED");

        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("COMMITTED", 1.0)));
        drive(id);
        Map<String, Object> done = json(target("/v1/migrations/" + id).request().get());
        assertThat(done).containsEntry("phase", "COMMITTED").containsEntry("pendingAction", "NONE");
        InOrder order = inOrder(nodeClient());
        order.verify(nodeClient()).closeMigrationExport(any(), eq("v1"));
        order.verify(nodeClient()).deleteVolume(any(), eq("v1"));
        assertThat(json(target("/v1/volumes/v1").request().get())).containsEntry("node", "n2")
                .containsEntry("state", "AVAILABLE");
        assertThat(target("/v1/migrations/" + id + "/abort").request().post(Entity.json("")).getStatus())
                .isEqualTo(409);
    }

    @Test
    void abortInPreparedDropsTheSinkAndClosesTheExport() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");
        when(nodeClient().abortSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ABORTED", 0)));

        Response r = target("/v1/migrations/" + id + "/abort").request().post(Entity.json(""));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).containsEntry("phase", "ABORTED");
        verify(nodeClient()).closeMigrationExport(any(), eq("v1"));
        assertThat(json(target("/v1/volumes/v1").request().get())).containsEntry("node", "n1")
                .containsEntry("state", "AVAILABLE");
        // Aborting again is harmless.
        assertThat(target("/v1/migrations/" + id + "/abort").request().post(Entity.json("")).getStatus())
                .isEqualTo(200);
    }

    @Test
    void abortAfterActiveWritesBackBeforeTheSourceIsUnfenced() {
        String id = (String) json(post("/v1/migrations",
                Map.of("volume", "v1", "targetNode", "n2", "switchMode", "manual"))).get("id");
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.3));
        assertThat(json(target("/v1/migrations/" + id + "/switch").request().post(Entity.json(""))))
                .containsEntry("phase", "ACTIVE");
        when(nodeClient().abortSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ABORTED", 0.3)));

        assertThat(json(target("/v1/migrations/" + id + "/abort").request().post(Entity.json(""))))
                .containsEntry("phase", "ABORTED");

        InOrder order = inOrder(nodeClient());
        order.verify(nodeClient()).abortSink(any(), eq("v1"));
        order.verify(nodeClient()).closeMigrationExport(any(), eq("v1"));
        order.verify(nodeClient()).unfence(any(), eq("v1"));
        verify(nodeClient(), never()).deleteVolume(any(), any());
    }

    @Test
    void aPrepareTheTargetRejectsRollsBackToFailed() {
        when(nodeClient().createSink(any(), eq("v1"), any(), eq(7001), any(), anyLong()))
                .thenThrow(new NodeCallException("n2", "create sink v1", 409, "a volume named v1 exists"));
        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.empty());

        Response r = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"));

        assertThat(r.getStatus()).isEqualTo(409);
        assertThat((String) json(r).get("message")).contains("n2");
        assertThat(controlPlane().migrations().list()).singleElement()
                .satisfies(m -> assertThat(m.phase()).isEqualTo(MigrationPhase.FAILED));
        verify(nodeClient()).closeMigrationExport(any(), eq("v1"));
        assertThat(json(target("/v1/volumes/v1").request().get())).containsEntry("state", "AVAILABLE");
    }

    @Test
    void theSourceNodesFenceEventSwitchesWithoutWaitingForThePoll() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");
        assertThat(phase(id)).isEqualTo("PREPARED");
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.1));

        // From the target node, or about another volume: nothing to switch.
        assertThat(post("/v1/nodes/n2/events", Map.of("type", "VOLUME_FENCED", "volume", "v1")).getStatus())
                .isEqualTo(204);
        assertThat(post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "other")).getStatus())
                .isEqualTo(204);
        verify(nodeClient(), never()).activateFencedSink(any(), any());

        Response r = post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "v1"));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).containsEntry("id", id).containsEntry("phase", "ACTIVE");
        InOrder order = inOrder(nodeClient());
        order.verify(nodeClient()).fence(argThat(n -> n.name().equals("n1")), eq("v1"));
        order.verify(nodeClient()).activateFencedSink(argThat(n -> n.name().equals("n2")), eq("v1"));
        // A repeated event changes nothing.
        assertThat(json(post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "v1"))))
                .containsEntry("phase", "ACTIVE");
        verify(nodeClient()).activateFencedSink(any(), eq("v1"));
    }

    @Test
    void aManualMigrationIsNotSwitchedByTheFenceEvent() {
        String id = (String) json(post("/v1/migrations",
                Map.of("volume", "v1", "targetNode", "n2", "switchMode", "manual"))).get("id");
        Response r = post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "v1"));
        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).containsEntry("phase", "PREPARED");
        verify(nodeClient(), never()).activateFencedSink(any(), any());
        assertThat(phase(id)).isEqualTo("PREPARED");
    }

    @Test
    void aFailedSwitchFromTheEventIsRecordedAndLeftToTheWatcher() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");
        when(nodeClient().activateFencedSink(any(), eq("v1")))
                .thenThrow(new NodeCallException("n2", "activate sink v1", 0, "unreachable"));

        Map<String, Object> m = json(post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "v1")));

        assertThat(m).containsEntry("phase", "PREPARED").containsEntry("pendingAction", "SWITCH");
        assertThat((String) m.get("error")).contains("unreachable");
        when(nodeClient().activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.1));
        when(nodeClient().getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ACTIVE", 0.1)));
        drive(id);
        assertThat(phase(id)).isEqualTo("ACTIVE");
    }

    @Test
    void badEventsAreRefusedWithTheFieldToFix() {
        assertThat(post("/v1/nodes/nope/events", Map.of("type", "VOLUME_FENCED", "volume", "v1")).getStatus())
                .isEqualTo(404);
        Response noType = post("/v1/nodes/n1/events", Map.of("volume", "v1"));
        assertThat(noType.getStatus()).isEqualTo(400);
        assertThat(json(noType).get("details")).isEqualTo(Map.of("field", "type"));
        assertThat(post("/v1/nodes/n1/events", Map.of("type", "VOLUME_EXPLODED", "volume", "v1")).getStatus())
                .isEqualTo(400);
        Response badName = post("/v1/nodes/n1/events", Map.of("type", "VOLUME_FENCED", "volume", "../etc"));
        assertThat(badName.getStatus()).isEqualTo(400);
        assertThat(json(badName).get("details")).isEqualTo(Map.of("field", "volume"));
    }

    @Test
    void aRestartedBackendReDrivesTheStepItOwed() {
        String id = (String) json(post("/v1/migrations",
                Map.of("volume", "v1", "targetNode", "n2", "switchMode", "manual"))).get("id");
        when(nodeClient().activateFencedSink(any(), eq("v1")))
                .thenThrow(new NodeCallException("n2", "activate sink v1", 0, "unreachable"));
        Response failed = target("/v1/migrations/" + id + "/switch").request().post(Entity.json(""));
        assertThat(failed.getStatus()).isEqualTo(502);
        assertThat((String) json(failed).get("message")).contains("'n2'").contains("activate sink v1");

        NodeClient afterRestart = mock(NodeClient.class);
        when(afterRestart.fence(any(), eq("v1"))).thenReturn(new BlockdVolume("v1", SIZE, 0, true, 0, "v1@tok"));
        when(afterRestart.activateFencedSink(any(), eq("v1"))).thenReturn(sink("ACTIVE", 0.5));
        when(afterRestart.getSink(any(), eq("v1"))).thenReturn(Optional.of(sink("ACTIVE", 0.5)));
        try (ControlPlane restarted = new ControlPlane(new FileStateStore(stateDir()), afterRestart, clock())) {
            assertThat(restarted.migrations().get(id).pendingAction()).isEqualTo(PendingAction.SWITCH);
            restarted.migrations().driveInBackground(id);
            assertThat(restarted.migrations().get(id).phase()).isEqualTo(MigrationPhase.ACTIVE);
            verify(afterRestart).fence(any(), eq("v1"));
            assertThat(restarted.volumes().get("v1").migrationId()).isEqualTo(id);
        }
    }

    @Test
    void bandwidthReachesTheSink() {
        String id = (String) json(post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"))).get("id");

        Response r = target("/v1/migrations/" + id + "/bandwidth").request()
                .put(Entity.json(Map.of("bytesPerSecond", 1_000_000)));

        assertThat(r.getStatus()).isEqualTo(200);
        assertThat(json(r)).containsEntry("bandwidthBytesPerSecond", 1_000_000);
        verify(nodeClient()).setSinkBandwidth(any(), eq("v1"), eq(1_000_000L));
        Response bad = target("/v1/migrations/" + id + "/bandwidth").request()
                .put(Entity.json(Map.of("bytesPerSecond", -1)));
        assertThat(json(bad).get("details")).isEqualTo(Map.of("field", "bytesPerSecond"));
    }

    private void sourceReports(int writers, boolean fenced) {
        when(nodeClient().getVolume(any(), eq("v1")))
                .thenReturn(Optional.of(new BlockdVolume("v1", SIZE, 1 << 20, fenced, writers, "v1@tok")));
    }

    private static BlockdSink sink(String state, double progress) {
        long total = 1024;
        return new BlockdSink("v1", state, total, (long) (total * progress), progress, 0, 0, 0, 0, 0, 0, null,
                null, null, null, null, "OK", "nbd://127.0.0.1:7001/v1@tok");
    }

    private void drive(String id) {
        controlPlane().migrations().driveInBackground(id);
    }

    private String phase(String id) {
        return (String) json(target("/v1/migrations/" + id).request().get()).get("phase");
    }

    private Response post(String path, Object body) {
        return target(path).request().post(Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }
}
