package io.dlsm.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Certificates for TLS tests, made with the real {@code openssl} at test time: a CA, a second
 * CA nobody trusts, and leaf certificates (EC P-256, usable as server and as client, with
 * subjectAltName IP:127.0.0.1 and DNS:localhost unless told otherwise) signed by either.
 * Also lays them out the way GnuTLS-based peers want a directory: QEMU's
 * {@code tls-creds-x509,dir=} and libnbd's {@code tls-certificates=} read
 * {@code ca-cert.pem}, {@code server-cert.pem}/{@code server-key.pem} or
 * {@code client-cert.pem}/{@code client-key.pem} from it.
 */
public final class TestPki {
    /** A certificate with its key; {@code subject} as blockd's --tls-allowed-subject takes it. */
    public record Identity(String name, Path cert, Path key, Path caCert, String subject) {
    }

    private static final String ORG = "DLSM test";
    private final Path dir;
    private final Path ca;
    private final Path otherCa;

    private TestPki(Path dir) {
        this.dir = dir;
        this.ca = dir.resolve("ca-cert.pem");
        this.otherCa = dir.resolve("other-ca-cert.pem");
    }

    /** Makes the two CAs under {@code dir}. */
    public static TestPki create(Path dir) {
        TestPki pki = new TestPki(dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        pki.makeCa("ca", "DLSM test CA");
        pki.makeCa("other-ca", "Some other CA");
        return pki;
    }

    /** The CA every identity from {@link #issue} chains to. */
    public Path ca() {
        return ca;
    }

    /** A CA that blockd's tests do not trust. */
    public Path otherCa() {
        return otherCa;
    }

    /** A certificate for CN={@code name} from the test CA, valid for 127.0.0.1 and localhost. */
    public Identity issue(String name) {
        return issue(name, false, "IP:127.0.0.1,DNS:localhost");
    }

    /** The same, signed by the untrusted CA. */
    public Identity issueByOtherCa(String name) {
        return issue(name, true, "IP:127.0.0.1,DNS:localhost");
    }

    /** A certificate from the test CA naming only {@code altNames} (e.g. "IP:127.0.0.2"). */
    public Identity issueFor(String name, String altNames) {
        return issue(name, false, altNames);
    }

    /** blockd's options for serving and dialling with {@code id}; {@code allowed} subjects, if any. */
    public static List<String> blockdArgs(Identity id, String... allowed) {
        List<String> args = new ArrayList<>(List.of("--tls-cert", id.cert().toString(), "--tls-key",
                id.key().toString(), "--tls-ca", id.caCert().toString()));
        for (String s : allowed) {
            args.add("--tls-allowed-subject");
            args.add(s);
        }
        return args;
    }

    /**
     * A directory as GnuTLS peers read it: {@code ca-cert.pem} (the CA that {@code trust} names)
     * and {@code ENDPOINT-cert.pem}/{@code ENDPOINT-key.pem} for {@code id} (none if null).
     */
    public Path gnutlsDir(String endpoint, Identity id, Path trust) {
        Path d = dir.resolve("gnutls-" + endpoint + "-" + (id == null ? "none" : id.name()) + "-"
                + trust.getFileName().toString().replace(".pem", ""));
        try {
            Files.createDirectories(d);
            Files.copy(trust, d.resolve("ca-cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            if (id != null) {
                Files.copy(id.cert(), d.resolve(endpoint + "-cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Files.copy(id.key(), d.resolve(endpoint + "-key.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void makeCa(String base, String cn) {
        PeerCommand.ok("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", dir.resolve(base + "-key.pem").toString(), "-out",
                dir.resolve(base + "-cert.pem").toString(), "-days", "2", "-subj", "/O=" + ORG + "/CN=" + cn,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private Identity issue(String name, boolean byOtherCa, String altNames) {
        String caBase = byOtherCa ? "other-ca" : "ca";
        Path key = dir.resolve(name + "-key.pem");
        Path csr = dir.resolve(name + ".csr");
        Path ext = dir.resolve(name + ".ext");
        Path cert = dir.resolve(name + "-cert.pem");
        try {
            Files.writeString(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=" + altNames + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        PeerCommand.ok("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/O=" + ORG + "/CN=" + name);
        PeerCommand.ok("openssl", "x509", "-req", "-in", csr.toString(), "-CA",
                dir.resolve(caBase + "-cert.pem").toString(), "-CAkey", dir.resolve(caBase + "-key.pem").toString(),
                "-CAcreateserial", "-days", "2", "-out", cert.toString(), "-extfile", ext.toString());
        return new Identity(name, cert, key, byOtherCa ? otherCa : ca, "CN=" + name + ",O=" + ORG);
    }
}
