package io.dlsm.backend.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Decides whether a presented bearer token is the configured static token.
 *
 * <p>Both sides are hashed before comparing: {@link MessageDigest#isEqual} is constant-time
 * only for equal lengths, and comparing fixed-size digests keeps the token's length secret too.
 */
public final class TokenCheck {

    private final byte[] expectedDigest;

    private TokenCheck(byte[] expectedDigest) {
        this.expectedDigest = expectedDigest;
    }

    /** No token configured: every request is let through. */
    public static TokenCheck disabled() {
        return new TokenCheck(null);
    }

    public static TokenCheck requiring(String token) {
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("empty bearer token");
        }
        return new TokenCheck(sha256(token));
    }

    /**
     * Reads the token from a file; surrounding whitespace (the trailing newline editors and
     * {@code echo} add) is not part of it.
     */
    public static TokenCheck fromFile(Path file) throws IOException {
        String token = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (token.isEmpty()) {
            throw new IOException("token file " + file + " is empty");
        }
        return requiring(token);
    }

    public boolean enabled() {
        return expectedDigest != null;
    }

    public boolean matches(String presented) {
        if (expectedDigest == null) {
            return true;
        }
        return presented != null && MessageDigest.isEqual(expectedDigest, sha256(presented));
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            // Every Java platform must provide SHA-256 (java.security.MessageDigest contract).
            throw new IllegalStateException(e);
        }
    }
}
