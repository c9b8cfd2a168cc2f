package io.dlsm.backend.etcd;

import io.dlsm.backend.config.EtcdOptions;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One backend's client to the etcd cluster, built from {@link EtcdOptions}: endpoints, TLS
 * (CA, optional client certificate) and user/password authentication. Owns the client; the
 * store and the leader election borrow it.
 */
public final class EtcdConnection implements AutoCloseable {

    /** Short, so an unreachable member is skipped quickly in favour of the next endpoint. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);

    private final EtcdOptions options;
    private final Client client;

    private EtcdConnection(EtcdOptions options, Client client) {
        this.options = options;
        this.client = client;
    }

    /** Builds the client; no call is made yet (the first store read tells whether etcd answers). */
    public static EtcdConnection open(EtcdOptions options) throws IOException {
        ClientBuilder b = Client.builder()
                .endpoints(options.endpoints().toArray(new java.net.URI[0]))
                .connectTimeout(CONNECT_TIMEOUT);
        if (options.tls()) {
            b.sslContext(ssl -> {
                options.ca().ifPresent(ca -> ssl.trustManager(ca.toFile()));
                if (options.cert().isPresent()) {
                    ssl.keyManager(options.cert().get().toFile(), options.key().orElseThrow().toFile());
                }
            });
        }
        if (options.user().isPresent()) {
            b.user(ByteSequence.from(options.user().get(), StandardCharsets.UTF_8))
                    .password(ByteSequence.from(readPassword(options.passwordFile().orElseThrow()),
                            StandardCharsets.UTF_8));
        }
        return new EtcdConnection(options, b.build());
    }

    public Client client() {
        return client;
    }

    public EtcdOptions options() {
        return options;
    }

    private static String readPassword(Path file) throws IOException {
        String password = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) {
            throw new IOException("etcd password file " + file + " is empty");
        }
        return password;
    }

    @Override
    public void close() {
        client.close();
    }
}
