package io.dlsm.backend.state;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * The embedded store: one JSON file per record, {@code STATE_DIR/KIND/ID.json}. A write goes
 * to a temporary file that is fsynced, renamed over the old one and followed by an fsync of
 * the directory, so after a crash a record is either the old or the new version, never torn,
 * and an acknowledged write survives power loss.
 */
public final class FileStateStore implements StateStore {

    private static final String SUFFIX = ".json";

    private final Path root;
    private final ObjectMapper json;

    public FileStateStore(Path root, ObjectMapper json) {
        this.root = root;
        this.json = json;
    }

    public FileStateStore(Path root) {
        this(root, defaultMapper());
    }

    /** The record mapper shared with {@link EtcdStateStore}. */
    public static ObjectMapper defaultMapper() {
        return RecordJson.mapper();
    }

    @Override
    public synchronized <T> void put(Kind<T> kind, String id, T value) {
        Path target = file(kind, id);
        try {
            Path dir = Files.createDirectories(target.getParent());
            byte[] content = json.writerWithDefaultPrettyPrinter().writeValueAsBytes(value);
            Path tmp = dir.resolve("." + target.getFileName() + ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(content);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            syncDirectory(dir);
        } catch (IOException e) {
            throw new StateStoreException("cannot persist " + kind.name() + "/" + id + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void delete(Kind<?> kind, String id) {
        Path target = file(kind, id);
        try {
            if (Files.deleteIfExists(target)) {
                syncDirectory(target.getParent());
            }
        } catch (IOException e) {
            throw new StateStoreException("cannot delete " + kind.name() + "/" + id + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized <T> Map<String, T> loadAll(Kind<T> kind) {
        Path dir = root.resolve(kind.name());
        Map<String, T> out = new TreeMap<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "[!.]*" + SUFFIX)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                out.put(name.substring(0, name.length() - SUFFIX.length()), json.readValue(f.toFile(), kind.type()));
            }
        } catch (IOException e) {
            // A record we cannot read is not skipped: resuming without it could lose a migration.
            throw new StateStoreException("cannot load " + kind.name() + " from " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    private Path file(Kind<?> kind, String id) {
        return root.resolve(kind.name()).resolve(StateStore.requireSafeId(id) + SUFFIX);
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
