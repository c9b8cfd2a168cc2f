package io.dlsm.blockd.nbd.server;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** The exports this daemon serves, by name (export name = volume or sink name). */
public final class ExportRegistry {
    private final ConcurrentHashMap<String, Export> exports = new ConcurrentHashMap<>();

    public void register(Export export) {
        Export previous = exports.putIfAbsent(export.name(), export);
        if (previous != null) {
            throw new IllegalStateException("export " + export.name() + " is already registered");
        }
    }

    public Optional<Export> lookup(String name) {
        return Optional.ofNullable(exports.get(name));
    }

    /** Names NBD_OPT_LIST shows: migration exports are not advertised. */
    public List<String> listedNames() {
        return exports.values().stream().filter(Export::listed).map(Export::name).sorted().toList();
    }

    /** Removes the export and disconnects its clients. */
    public Optional<Export> withdraw(String name) {
        Export e = exports.remove(name);
        if (e != null) {
            e.withdraw();
        }
        return Optional.ofNullable(e);
    }
}
