package io.dlsm.blockd.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dlsm.blockd.dm.CommandRunner;
import io.dlsm.blockd.dm.Dmsetup;
import io.dlsm.blockd.dm.KernelDevices;
import io.dlsm.blockd.dm.KernelPathMode;
import io.dlsm.blockd.dm.KernelPathStore;
import io.dlsm.blockd.dm.KernelPaths;
import io.dlsm.blockd.dm.Losetup;
import io.dlsm.blockd.dm.NbdClientDevices;
import jakarta.ws.rs.client.Entity;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.test.JerseyTest;
import org.glassfish.jersey.test.inmemory.InMemoryTestContainerFactory;
import org.glassfish.jersey.test.spi.TestContainerFactory;
import org.junit.jupiter.api.Test;

/** POST/GET/DELETE /v1/volumes/{name}/device over the real state machines and a recording runner. */
class DeviceResourceTest extends JerseyTest {
    /** Static: JerseyTest configures before instance fields are initialised. */
    static final List<String> COMMANDS = new CopyOnWriteArrayList<>();

    @Override
    protected ResourceConfig configure() {
        COMMANDS.clear();
        try {
            Path dir = Files.createTempDirectory("blockd-device");
            CommandRunner runner = c -> {
                COMMANDS.add(c.display());
                return new CommandRunner.Result(0, "", "");
            };
            KernelPaths paths = new KernelPaths(new Dmsetup(runner, false), new NbdClientDevices(runner),
                    new Losetup(runner, dir.resolve("sys")), new KernelPathStore(dir.resolve("kernel"), Json.newMapper()));
            KernelDevices.Inventory inv = new KernelDevices.Inventory() {
                @Override
                public Optional<KernelDevices.LocalVolume> volume(String name) {
                    return name.equals("vol1")
                            ? Optional.of(new KernelDevices.LocalVolume(1 << 20, Path.of("/data/volumes/vol1.img"), false))
                            : Optional.empty();
                }

                @Override
                public Optional<KernelDevices.SinkView> sink(String name) {
                    return Optional.empty();
                }

                @Override
                public Path volumeFile(String name) {
                    return Path.of("/data/volumes/" + name + ".img");
                }

                @Override
                public List<String> freeNbdDevices() {
                    return List.of("/dev/nbd0");
                }

                @Override
                public List<String> freeLoopDevices() {
                    return List.of("/dev/loop7");
                }

                @Override
                public void attachDirectWriter(String volume, io.dlsm.blockd.volume.DirectWriter writer) {
                }

                @Override
                public void detachDirectWriter(String volume, io.dlsm.blockd.volume.DirectWriter writer) {
                }

                @Override
                public Path handOverToKernel(String sink) {
                    throw new UnsupportedOperationException("no sinks here");
                }

                @Override
                public void kernelProgress(String sink, long hydrated) {
                }

                @Override
                public void kernelHydrated(String sink) {
                }
            };
            KernelDevices devices = new KernelDevices(paths, List.of(), KernelPathMode.LINEAR_OVER_NBD, inv,
                    "127.0.0.1", 10809, dir.resolve("kernel"));
            ResourceConfig rc = new ResourceConfig();
            rc.register(new Json(Json.newMapper()));
            rc.register(new KernelDeviceExceptionMapper());
            rc.registerResources(BlockdApplication.boundTo(new DeviceResource(Optional.of(devices))));
            return rc;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected TestContainerFactory getTestContainerFactory() {
        return new InMemoryTestContainerFactory();
    }

    @Test
    void createAnswersTheDevicePathAndDeleteIsIdempotent() throws Exception {
        Response r = target("/v1/volumes/vol1/device").request().post(Entity.json(""));
        assertThat(r.getStatus()).isEqualTo(200);
        JsonNode j = InMemoryApi.MAPPER.readTree(r.readEntity(String.class));
        assertThat(j.get("devicePath").asText()).isEqualTo("/dev/mapper/dlsm-vol1");
        assertThat(j.get("state").asText()).isEqualTo("LOCAL");
        assertThat(COMMANDS).containsExactly("losetup /dev/loop7 /data/volumes/vol1.img",
                "DM_DISABLE_UDEV=1 dmsetup create dlsm-vol1 --table '0 2048 linear /dev/loop7 0'");

        assertThat(target("/v1/volumes/vol1/device").request().get().getStatus()).isEqualTo(200);
        COMMANDS.clear();
        assertThat(target("/v1/volumes/vol1/device").request().delete().getStatus()).isEqualTo(204);
        assertThat(COMMANDS).containsExactly("DM_DISABLE_UDEV=1 dmsetup remove dlsm-vol1", "losetup -d /dev/loop7");
        COMMANDS.clear();
        assertThat(target("/v1/volumes/vol1/device").request().delete().getStatus()).isEqualTo(204);
        assertThat(COMMANDS).isEmpty();
        assertThat(target("/v1/volumes/vol1/device").request().get().getStatus()).isEqualTo(404);
    }

    @Test
    void unknownVolumeIs404WithTheVolumeNamed() throws Exception {
        Response r = target("/v1/volumes/ghost/device").request().post(Entity.json(""));
        assertThat(r.getStatus()).isEqualTo(404);
        JsonNode j = InMemoryApi.MAPPER.readTree(r.readEntity(String.class));
        assertThat(j.get("code").asText()).isEqualTo("NOT_FOUND");
        assertThat(j.at("/details/volume").asText()).isEqualTo("ghost");
    }
}
