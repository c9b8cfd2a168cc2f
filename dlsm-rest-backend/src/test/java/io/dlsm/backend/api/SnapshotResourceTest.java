package io.dlsm.backend.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.ArgumentMatchers.argThat;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.ArgumentMatchers.isNull;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.dlsm.backend.node.BlockdSink;
import io.dlsm.backend.node.BlockdSnapshot;
import io.dlsm.backend.node.BlockdVolume;
import io.dlsm.backend.node.NodeCallException;
import io.dlsm.backend.server.ApiTestSupport;
import io.dlsm.backend.snapshot.SnapshotService;
import io.dlsm.backend.state.FileStateStore;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mockito.InOrder;

/** Snapshot and clone endpoints against a mocked blockd. */
class SnapshotResourceTest extends ApiTestSupport {

    static final long SIZE = 1L << 30;

    @BeforeEach
    void volume() {
        post("/v1/nodes", NodeResourceTest.registration("n1", 7000)).close();
        post("/v1/nodes", NodeResourceTest.registration("n2", 7100)).close();
        when(nodeClient().createVolume(any(), any(), anyLong()))
                .thenAnswer(i -> new BlockdVolume(i.getArgument(1), i.getArgument(2), 0, false, 0, null));
        when(nodeClient().createSnapshot(any(), any(), any()))
                .thenAnswer(i -> new BlockdSnapshot(i.getArgument(1), i.getArgument(2), SIZE, 0, "x"));
        when(nodeClient().createVolumeFrom(any(), any(), anyLong(), any(), any()))
                .thenAnswer(i -> new BlockdVolume(i.getArgument(1), i.getArgument(2), 0, false, 0, null));
        assertThat(post("/v1/volumes", Map.of("name", "v1", "sizeBytes", SIZE, "node", "n1")).getStatus())
                .isEqualTo(201);
    }

    @Test
    void snapshotIsTakenOnTheVolumesNodeRecordedAndIdempotent() {
        Response r = post("/v1/volumes/v1/snapshots", Map.of("name", "s1"));
        assertThat(r.getStatus()).isEqualTo(201);
        assertThat(r.getLocation().getPath()).isEqualTo("/v1/volumes/v1/snapshots/s1");
        assertThat(json(r)).containsEntry("name", "s1").containsEntry("volume", "v1").containsEntry("node", "n1")
                .containsEntry("sizeBytes", (int) SIZE).containsKey("createdAt");
        assertThat(post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).getStatus()).isEqualTo(200);
        verify(nodeClient(), times(1)).createSnapshot(any(), eq("v1"), eq("s1"));

        List<?> listed = target("/v1/volumes/v1/snapshots").request().get(List.class);
        assertThat(listed).hasSize(1);
        // Persisted: a backend restarted on the same state directory knows the snapshot.
        assertThat(new FileStateStore(stateDir()).loadAll(SnapshotService.KIND).values())
                .singleElement().satisfies(s -> assertThat(s.name()).isEqualTo("s1"));
    }

    @Test
    void snapshotThatReachedBlockdBeforeACrashIsTakenOver() {
        when(nodeClient().createSnapshot(any(), eq("v1"), eq("s1")))
                .thenThrow(new NodeCallException("n1", "snapshot", 409, "exists"));
        when(nodeClient().getSnapshot(any(), eq("v1"), eq("s1")))
                .thenReturn(Optional.of(new BlockdSnapshot("v1", "s1", SIZE, 0, "v1@snap-s1")));
        assertThat(post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).getStatus()).isEqualTo(201);
    }

    @Test
    void deleteAnswers204ThenUnknownIs404() {
        post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).close();
        assertThat(target("/v1/volumes/v1/snapshots/s1").request().delete().getStatus()).isEqualTo(204);
        verify(nodeClient()).deleteSnapshot(any(), eq("v1"), eq("s1"));
        Response gone = target("/v1/volumes/v1/snapshots/s1").request().delete();
        assertThat(gone.getStatus()).isEqualTo(404);
        assertThat(json(gone).get("details")).isEqualTo(Map.of("snapshot", "s1"));
        assertThat(target("/v1/volumes/ghost/snapshots").request().get().getStatus()).isEqualTo(404);
    }

    @Test
    void migratingVolumeCannotBeSnapshottedOrClonedAndSnapshotsBlockDeleteAndMigration() {
        post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).close();
        Response delete = target("/v1/volumes/v1").request().delete();
        assertThat(delete.getStatus()).isEqualTo(409);
        assertThat((String) json(delete).get("message")).contains("s1").contains("delete them first");
        verify(nodeClient(), never()).deleteVolume(any(), any());
        Response migrate = post("/v1/migrations", Map.of("volume", "v1", "targetNode", "n2"));
        assertThat(migrate.getStatus()).isEqualTo(409);
        assertThat((String) json(migrate).get("message")).contains("s1");

        controlPlane().volumes().markMigrating("v1", "m-1");
        Response snap = post("/v1/volumes/v1/snapshots", Map.of("name", "s2"));
        assertThat(snap.getStatus()).isEqualTo(409);
        assertThat(json(snap).get("details")).isEqualTo(Map.of("volume", "v1", "migrationId", "m-1"));
        assertThat(post("/v1/volumes", Map.of("name", "c", "source", Map.of("volume", "v1"))).getStatus())
                .isEqualTo(409);
    }

    @Test
    void volumesFromASnapshotOrAVolumeAreMadeOnTheSourceNode() {
        post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).close();

        Response fromSnap = post("/v1/volumes", Map.of("name", "v2", "sizeBytes", 2 * SIZE, "node", "n1",
                "source", Map.of("volume", "v1", "snapshot", "s1")));
        assertThat(fromSnap.getStatus()).isEqualTo(201);
        Map<String, Object> made = json(fromSnap);
        assertThat(made).containsEntry("node", "n1");
        assertThat(((Number) made.get("sizeBytes")).longValue()).isEqualTo(2 * SIZE);
        verify(nodeClient()).createVolumeFrom(any(), eq("v2"), eq(2 * SIZE), eq("v1"), eq("s1"));

        Response clone = post("/v1/volumes", Map.of("name", "v3", "source", Map.of("volume", "v1")));
        assertThat(clone.getStatus()).isEqualTo(201);
        assertThat(json(clone)).containsEntry("node", "n1");
        verify(nodeClient()).createVolumeFrom(any(), eq("v3"), eq(SIZE), eq("v1"), isNull());
        // A retry of the same request answers the same volume.
        assertThat(post("/v1/volumes", Map.of("name", "v3", "source", Map.of("volume", "v1"))).getStatus())
                .isEqualTo(200);
        assertThat(controlPlane().volumes().get("v3").node()).isEqualTo("n1");
    }

    @Test
    void aCopyForAnotherNodeIsMadeBesideItsSourceAndMovedThereAtOnce() {
        when(nodeClient().openMigrationExport(any(), eq("v2"))).thenReturn("v2@tok");
        when(nodeClient().getVolume(any(), eq("v2")))
                .thenReturn(Optional.of(new BlockdVolume("v2", SIZE, 0, false, 0, "v2@tok")));
        when(nodeClient().createSink(any(), eq("v2"), any(), anyInt(), eq("v2@tok"), anyLong()))
                .thenReturn(sink("PROXY"));
        when(nodeClient().activateFencedSink(any(), eq("v2"))).thenReturn(sink("ACTIVE"));

        Response r = post("/v1/volumes", Map.of("name", "v2", "node", "n2", "source", Map.of("volume", "v1")));

        assertThat(r.getStatus()).isEqualTo(201);
        InOrder order = inOrder(nodeClient());
        order.verify(nodeClient()).createVolumeFrom(argThat(n -> n.name().equals("n1")), eq("v2"), eq(SIZE), eq("v1"),
                isNull());
        order.verify(nodeClient()).createSink(argThat(n -> n.name().equals("n2")), eq("v2"), any(), anyInt(),
                eq("v2@tok"), anyLong());
        order.verify(nodeClient()).activateFencedSink(argThat(n -> n.name().equals("n2")), eq("v2"));
        var migration = controlPlane().migrations().activeFor("v2").orElseThrow();
        assertThat(migration.targetNode()).isEqualTo("n2");
        assertThat(migration.phase().switched()).isTrue();
        // Cinder's retry of the same create gets the same volume, no second copy.
        assertThat(post("/v1/volumes", Map.of("name", "v2", "node", "n2", "source", Map.of("volume", "v1")))
                .getStatus()).isEqualTo(200);
        verify(nodeClient(), times(1)).createVolumeFrom(any(), eq("v2"), anyLong(), any(), any());
    }

    @Test
    void aCopyThatCannotBeMovedIsRemovedAgain() {
        when(nodeClient().openMigrationExport(any(), eq("v2")))
                .thenThrow(new NodeCallException("n1", "open the migration export of v2", 500, "disk on fire"));

        Response r = post("/v1/volumes", Map.of("name", "v2", "node", "n2", "source", Map.of("volume", "v1")));

        assertThat(r.getStatus()).isEqualTo(502);
        assertThat((String) json(r).get("message")).contains("n1");
        verify(nodeClient()).deleteVolume(argThat(n -> n.name().equals("n1")), eq("v2"));
        assertThat(controlPlane().volumes().find("v2")).isEmpty();
    }

    private static BlockdSink sink(String state) {
        return new BlockdSink("v2", state, 1024, 0, 0, 0, 0, 0, 0, 0, 0, null, null, null, null, null, null, null);
    }

    @Test
    void badSourcesAreExplained() {
        post("/v1/volumes/v1/snapshots", Map.of("name", "s1")).close();
        Response small = post("/v1/volumes", Map.of("name", "v2", "sizeBytes", SIZE / 2,
                "source", Map.of("volume", "v1", "snapshot", "s1")));
        assertThat(small.getStatus()).isEqualTo(400);
        assertThat(json(small).get("details")).isEqualTo(Map.of("field", "sizeBytes"));
        Response unknownNode = post("/v1/volumes", Map.of("name", "v2", "node", "n9", "source", Map.of("volume", "v1")));
        assertThat(unknownNode.getStatus()).isBetween(400, 499);
        assertThat((String) json(unknownNode).get("message")).contains("n9");
        assertThat(post("/v1/volumes", Map.of("name", "v2", "source", Map.of("volume", "v1", "snapshot", "nope")))
                .getStatus()).isEqualTo(404);
        assertThat(post("/v1/volumes", Map.of("name", "v2", "source", Map.of())).getStatus()).isEqualTo(400);
        verify(nodeClient(), never()).createVolumeFrom(any(), any(), anyLong(), any(), any());
        assertThat(controlPlane().volumes().find("v2")).isEmpty();
    }

    private Response post(String path, Object body) {
        return target(path).request().post(Entity.entity(body, MediaType.APPLICATION_JSON_TYPE));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(Response r) {
        return r.readEntity(Map.class);
    }
}
