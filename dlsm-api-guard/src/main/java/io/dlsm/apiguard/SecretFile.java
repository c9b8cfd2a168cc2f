package io.dlsm.apiguard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;

/**
 * A bearer secret kept in a file: read from one the operator gave, or made at first start
 * (256 random bits, owner-only mode 0600) and reused on every later start, so clients that
 * read it once keep working across restarts.
 */
public final class SecretFile {
    /** 32 bytes: twice the 128 bits an unguessable secret needs. */
    private static final int RANDOM_BYTES = 32;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private SecretFile() {
    }

    /**
     * The secret in {@code file}; surrounding whitespace (the newline {@code echo} adds) is not
     * part of it.
     */
    public static String read(Path file) throws IOException {
        String secret = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (secret.isEmpty()) {
            throw new IOException("secret file " + file + " is empty; put a token in it or delete it "
                    + "so that a new one is made");
        }
        return secret;
    }

    /**
     * The secret in {@code file}, made first if the file does not exist. The file appears
     * complete or not at all (written under another name, then hard-linked into place, which
     * fails rather than overwrites if another process made it meanwhile). An existing file
     * others may read is refused: its secret must be assumed known.
     */
    public static String readOrCreate(Path file) throws IOException {
        if (!Files.exists(file)) {
            create(file);
        }
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
        if (!OWNER_ONLY.containsAll(mode)) {
            throw new IOException("secret file " + file + " has mode " + PosixFilePermissions.toString(mode)
                    + ", which lets other users read it; run 'chmod 600 " + file + "' if nobody else did, "
                    + "else delete it so that a new secret is made");
        }
        return read(file);
    }

    private static void create(Path file) throws IOException {
        byte[] random = new byte[RANDOM_BYTES];
        new SecureRandom().nextBytes(random);
        byte[] text = (Base64.getUrlEncoder().withoutPadding().encodeToString(random) + "\n")
                .getBytes(StandardCharsets.US_ASCII);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(text);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
            try {
                Files.createLink(file, tmp);
            } catch (FileAlreadyExistsException e) {
                // Another process made it first: its secret is the one everybody reads.
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
