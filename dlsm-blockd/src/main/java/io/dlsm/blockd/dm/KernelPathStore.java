package io.dlsm.blockd.dm;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.blockd.state.AtomicFile;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** State files {@code <dir>/VOLUME.json}, replaced atomically. */
public final class KernelPathStore {
    private final Path dir;
    private final ObjectMapper json;

    public KernelPathStore(Path dir, ObjectMapper json) {
        this.dir = dir;
        this.json = json;
    }

    public void save(KernelPathRecord rec) throws IOException {
        Files.createDirectories(dir);
        AtomicFile.write(file(rec.volume()), json.writeValueAsBytes(rec));
    }

    public void delete(String volume) throws IOException {
        AtomicFile.delete(file(volume));
    }

    public List<KernelPathRecord> all() throws IOException {
        List<KernelPathRecord> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            ds.forEach(files::add);
        }
        files.sort(null);
        for (Path f : files) {
            out.add(json.readValue(f.toFile(), KernelPathRecord.class));
        }
        return out;
    }

    private Path file(String volume) {
        return dir.resolve(volume + ".json");
    }
}
