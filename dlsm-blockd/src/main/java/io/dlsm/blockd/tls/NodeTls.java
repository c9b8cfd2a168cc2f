package io.dlsm.blockd.tls;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.security.auth.x500.X500Principal;

/**
 * This node's TLS identity and trust, loaded once at start from PEM files: its certificate
 * chain and private key, and the CA certificates a peer's certificate must chain to. Both
 * directions are mutual: the NBD server demands a client certificate (and, if subjects are
 * listed, one of those subjects, like QEMU's {@code tls-authz}); a client checks the server's
 * certificate and that its subjectAltName matches the host it dialled.
 *
 * <p>Only TLS 1.3 and 1.2 with AEAD cipher suites are enabled, AES-128-GCM first: it is the
 * cheapest on CPUs with AES-NI, and the server's order wins.
 */
public final class NodeTls {
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};
    private static final List<String> CIPHER_PREFERENCE = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
    private static final Pattern PEM_KEY = Pattern.compile(
            "-----BEGIN ([A-Z ]*PRIVATE KEY)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");
    /** DER prefix of a PKCS#8 PrivateKeyInfo's algorithm for rsaEncryption (OID 1.2.840.113549.1.1.1, NULL). */
    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

    private final TlsSettings settings;
    private final SSLContext context;
    private final String[] cipherSuites;
    private final X500Principal subject;

    private NodeTls(TlsSettings settings, SSLContext context, X500Principal subject) {
        this.settings = settings;
        this.context = context;
        this.subject = subject;
        Set<String> supported = Set.of(context.getSupportedSSLParameters().getCipherSuites());
        this.cipherSuites = CIPHER_PREFERENCE.stream().filter(supported::contains).toArray(String[]::new);
    }

    /** Reads and checks the files; every failure names the file and what is wrong with it. */
    public static NodeTls load(TlsSettings settings) throws TlsException {
        List<X509Certificate> chain = certificates(settings.certificate(), "--tls-cert");
        List<X509Certificate> cas = certificates(settings.ca(), "--tls-ca");
        PrivateKey key = privateKey(settings.privateKey());
        requireMatch(chain.get(0), key, settings);
        Set<X500Principal> allowed = new java.util.HashSet<>();
        for (String s : settings.allowedSubjects()) {
            try {
                allowed.add(new X500Principal(s));
            } catch (IllegalArgumentException e) {
                throw new TlsException("--tls-allowed-subject '" + s + "' is not a distinguished name such as "
                        + "'CN=node-a,O=DLSM': " + e.getMessage());
            }
        }
        try {
            char[] none = new char[0];
            KeyStore identity = KeyStore.getInstance("PKCS12");
            identity.load(null, none);
            identity.setKeyEntry("node", key, none, chain.toArray(Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(identity, none);

            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, none);
            for (int i = 0; i < cas.size(); i++) {
                trusted.setCertificateEntry("ca-" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trusted);
            X509ExtendedTrustManager pkix = Arrays.stream(tmf.getTrustManagers())
                    .filter(X509ExtendedTrustManager.class::isInstance).map(X509ExtendedTrustManager.class::cast)
                    .findFirst().orElseThrow(() -> new TlsException("no X.509 trust manager in this JDK"));

            SSLContext context = SSLContext.getInstance("TLS");
            context.init(kmf.getKeyManagers(), new TrustManager[] {new SubjectCheck(pkix, Set.copyOf(allowed))},
                    new SecureRandom());
            return new NodeTls(settings, context, chain.get(0).getSubjectX500Principal());
        } catch (IOException | GeneralSecurityException e) {
            throw new TlsException("cannot set up TLS from " + settings.certificate() + ", " + settings.privateKey()
                    + " and " + settings.ca() + ": " + e.getMessage(), e);
        }
    }

    public TlsMode mode() {
        return settings.mode();
    }

    public TlsSettings settings() {
        return settings;
    }

    /** This node's certificate subject, for logs. */
    public String subject() {
        return subject.getName(X500Principal.RFC2253);
    }

    /** The context itself, for servers and clients other than NBD (HTTPS). */
    public SSLContext context() {
        return context;
    }

    /** A server-side engine that requires a client certificate. */
    public SSLEngine serverEngine() {
        SSLEngine e = context.createSSLEngine();
        e.setUseClientMode(false);
        SSLParameters p = parameters();
        p.setNeedClientAuth(true);
        p.setUseCipherSuitesOrder(true);
        e.setSSLParameters(p);
        return e;
    }

    /**
     * A client-side engine for {@code host}: the server's certificate must chain to the CA and
     * name {@code host} (a DNS name or an IP address) in its subjectAltName.
     */
    public SSLEngine clientEngine(String host, int port) {
        SSLEngine e = context.createSSLEngine(host, port);
        e.setUseClientMode(true);
        SSLParameters p = parameters();
        p.setEndpointIdentificationAlgorithm("HTTPS");
        e.setSSLParameters(p);
        return e;
    }

    private SSLParameters parameters() {
        SSLParameters p = context.getDefaultSSLParameters();
        p.setProtocols(PROTOCOLS);
        p.setCipherSuites(cipherSuites);
        return p;
    }

    private static List<X509Certificate> certificates(Path file, String option) throws TlsException {
        byte[] pem = readFile(file, option);
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            List<X509Certificate> out = new ArrayList<>();
            for (Certificate c : cf.generateCertificates(new ByteArrayInputStream(pem))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new TlsException(option + " " + file + " holds no PEM certificate");
            }
            return out;
        } catch (CertificateException e) {
            throw new TlsException(option + " " + file + " is not a PEM certificate file: " + e.getMessage(), e);
        }
    }

    /**
     * An unencrypted PKCS#8 key ({@code BEGIN PRIVATE KEY}, what {@code openssl genpkey}
     * writes) or a PKCS#1 RSA key ({@code BEGIN RSA PRIVATE KEY}); RSA, EC and EdDSA.
     */
    private static PrivateKey privateKey(Path file) throws TlsException {
        String pem = new String(readFile(file, "--tls-key"), StandardCharsets.US_ASCII);
        Matcher m = PEM_KEY.matcher(pem);
        if (!m.find()) {
            throw new TlsException("--tls-key " + file + " holds no PEM private key");
        }
        String kind = m.group(1);
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(m.group(2));
        } catch (IllegalArgumentException e) {
            throw new TlsException("--tls-key " + file + ": bad base64 in the PEM block");
        }
        byte[] pkcs8 = switch (kind) {
            case "PRIVATE KEY" -> der;
            case "RSA PRIVATE KEY" -> wrapPkcs1(der);
            default -> throw new TlsException("--tls-key " + file + " is a '" + kind + "'; give an unencrypted"
                    + " PKCS#8 key (openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)");
        };
        for (String algorithm : List.of("RSA", "EC", "EdDSA")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
                // not this algorithm; try the next
            }
        }
        throw new TlsException("--tls-key " + file + ": not an RSA, EC or EdDSA private key this JDK can read");
    }

    /** PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo: SEQUENCE { 0, rsaEncryption, OCTET STRING }. */
    private static byte[] wrapPkcs1(byte[] pkcs1) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0x02, 0x01, 0x00});
        body.writeBytes(RSA_ALGORITHM);
        body.write(0x04);
        body.writeBytes(derLength(pkcs1.length));
        body.writeBytes(pkcs1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x30);
        out.writeBytes(derLength(body.size()));
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    private static byte[] derLength(int n) {
        if (n < 0x80) {
            return new byte[] {(byte) n};
        }
        if (n < 0x100) {
            return new byte[] {(byte) 0x81, (byte) n};
        }
        if (n < 0x10000) {
            return new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n};
        }
        return new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    }

    /** A key that does not belong to the certificate would only fail later, in every handshake. */
    private static void requireMatch(X509Certificate cert, PrivateKey key, TlsSettings s) throws TlsException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> key.getAlgorithm();
        };
        try {
            byte[] probe = "dlsm key check".getBytes(StandardCharsets.US_ASCII);
            Signature sign = Signature.getInstance(algorithm);
            sign.initSign(key);
            sign.update(probe);
            byte[] signature = sign.sign();
            Signature verify = Signature.getInstance(algorithm);
            verify.initVerify(cert.getPublicKey());
            verify.update(probe);
            if (verify.verify(signature)) {
                return;
            }
        } catch (GeneralSecurityException e) {
            throw new TlsException("--tls-key " + s.privateKey() + " does not belong to the certificate in --tls-cert "
                    + s.certificate() + ": " + e.getMessage(), e);
        }
        throw new TlsException("--tls-key " + s.privateKey() + " does not belong to the certificate in --tls-cert "
                + s.certificate());
    }

    private static byte[] readFile(Path file, String option) throws TlsException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TlsException(option + " " + file + " cannot be read: " + e.getMessage(), e);
        }
    }

    /**
     * PKIX validation against the configured CAs, then, for client certificates, the subject
     * allow-list. Refusing inside the handshake means the client gets a TLS alert rather than
     * a session it cannot use.
     */
    private static final class SubjectCheck extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager pkix;
        private final Set<X500Principal> allowed;

        SubjectCheck(X509ExtendedTrustManager pkix, Set<X500Principal> allowed) {
            this.pkix = pkix;
            this.allowed = allowed;
        }

        private void allowed(X509Certificate[] chain) throws CertificateException {
            X500Principal who = chain[0].getSubjectX500Principal();
            if (!allowed.isEmpty() && !allowed.contains(who)) {
                throw new CertificateException("client certificate subject '" + who.getName(X500Principal.RFC2253)
                        + "' is not one of the --tls-allowed-subject values "
                        + allowed.stream().map(p -> "'" + p.getName(X500Principal.RFC2253) + "'")
                                .collect(Collectors.joining(", ")));
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            pkix.checkClientTrusted(chain, authType, engine);
            allowed(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            pkix.checkClientTrusted(chain, authType, socket);
            allowed(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            pkix.checkClientTrusted(chain, authType);
            allowed(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            pkix.checkServerTrusted(chain, authType, engine);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            pkix.checkServerTrusted(chain, authType, socket);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            pkix.checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return pkix.getAcceptedIssuers();
        }
    }
}
