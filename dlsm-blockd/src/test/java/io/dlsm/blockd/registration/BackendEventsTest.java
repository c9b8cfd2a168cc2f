package io.dlsm.blockd.registration;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.dlsm.blockd.api.Json;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What blockd pushes to the backend, against a real HTTP listener on loopback. */
@Timeout(30)
class BackendEventsTest {
    private HttpServer server;
    private final BlockingQueue<String> received = new LinkedBlockingQueue<>();
    private volatile int status = 204;

    @BeforeEach
    void listen() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            received.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath() + " "
                    + exchange.getRequestHeaders().getFirst("Authorization") + " " + body);
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    /** Events go out with the node's credential, never with the registration or API token. */
    private BackendEvents events(String credential) {
        URI url = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
        return new BackendEvents(new BackendLink(url, "node-a", credential, Optional.of("registration-token"),
                Optional.of("api-token"), Json.newMapper()));
    }

    @Test
    void anAutomaticFenceIsPostedAsAnEventOfThisNode() throws Exception {
        try (BackendEvents e = events("s3cret")) {
            e.fencedAutomatically("vol-1");
            String call = received.poll(10, TimeUnit.SECONDS);
            assertThat(call).startsWith("POST /v1/nodes/node-a/events Bearer s3cret ");
            assertThat(Json.newMapper().readTree(call.substring(call.indexOf('{'))))
                    .isEqualTo(Json.newMapper().readTree("{\"type\":\"VOLUME_FENCED\",\"volume\":\"vol-1\"}"));
        }
    }

    @Test
    void aRefusedEventIsDroppedAndTheNextOneStillGoesOut() throws Exception {
        status = 500;
        try (BackendEvents e = events("c")) {
            e.fencedAutomatically("v1");
            assertThat(received.poll(10, TimeUnit.SECONDS)).startsWith("POST /v1/nodes/node-a/events Bearer c ");
            status = 204;
            e.fencedAutomatically("v2");
            assertThat(received.poll(10, TimeUnit.SECONDS)).contains("\"v2\"");
            assertThat(received).isEmpty();
        }
    }

    @Test
    void aBackendThatDoesNotAnswerNeverHoldsUpTheCaller() throws Exception {
        java.util.concurrent.CountDownLatch answer = new java.util.concurrent.CountDownLatch(1);
        server.removeContext("/");
        server.createContext("/", exchange -> {
            received.add(exchange.getRequestURI().getPath());
            try {
                answer.await();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        try (BackendEvents e = events("c")) {
            e.fencedAutomatically("v1");
            assertThat(received.poll(10, TimeUnit.SECONDS)).isEqualTo("/v1/nodes/node-a/events");
            // The backend holds the first call: the next one is queued, not sent inline (a
            // disconnecting NBD connection fires these); a blocking call would hang the test.
            e.fencedAutomatically("v2");
            answer.countDown();
            assertThat(received.poll(10, TimeUnit.SECONDS)).isEqualTo("/v1/nodes/node-a/events");
        }
    }
}
