package io.dlsm.blockd.dm;

import io.dlsm.blockd.sink.SinkManager;
import io.dlsm.blockd.volume.DirectWriter;
import io.dlsm.blockd.volume.VolumeStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/** {@link KernelDevices.Inventory} over blockd's own volume store and sink manager. */
public final class NodeInventory implements KernelDevices.Inventory {
    private final VolumeStore volumes;
    private final SinkManager sinks;
    private final Supplier<List<String>> freeNbd;
    private final Supplier<List<String>> freeLoops;

    /**
     * @param freeNbd asked on every device creation (the capability probe's free list)
     * @param freeLoops likewise ({@link Losetup#freeDevices()})
     */
    public NodeInventory(VolumeStore volumes, SinkManager sinks, Supplier<List<String>> freeNbd,
                         Supplier<List<String>> freeLoops) {
        this.volumes = volumes;
        this.sinks = sinks;
        this.freeNbd = freeNbd;
        this.freeLoops = freeLoops;
    }

    @Override
    public Optional<KernelDevices.LocalVolume> volume(String name) {
        if (!volumes.exists(name)) {
            return Optional.empty();
        }
        io.dlsm.blockd.volume.Volume v = volumes.get(name);
        return Optional.of(new KernelDevices.LocalVolume(v.sizeBytes(), volumes.dataFileOf(name), v.fenced()));
    }

    @Override
    public void attachDirectWriter(String volume, DirectWriter writer) throws IOException {
        volumes.attachDirectWriter(volume, writer);
    }

    @Override
    public void detachDirectWriter(String volume, DirectWriter writer) {
        volumes.detachDirectWriter(volume, writer);
    }

    @Override
    public Path handOverToKernel(String sink) {
        return sinks.handOverToKernel(sink);
    }

    @Override
    public void kernelProgress(String sink, long hydrated) {
        sinks.kernelProgress(sink, hydrated);
    }

    @Override
    public void kernelHydrated(String sink) {
        sinks.kernelHydrated(sink);
    }

    @Override
    public Optional<KernelDevices.SinkView> sink(String name) {
        return sinks.find(name).map(r -> new KernelDevices.SinkView(r.sizeBytes(), r.state(),
                new KernelPathRecord.NbdSource(r.source().host(), r.source().port(), r.source().export()),
                r.regionSize(), r.bandwidthBytesPerSecond()));
    }

    @Override
    public Path volumeFile(String name) {
        return volumes.dataFileOf(name);
    }

    @Override
    public List<String> freeNbdDevices() {
        return freeNbd.get();
    }

    @Override
    public List<String> freeLoopDevices() {
        return freeLoops.get();
    }
}
