package io.dlsm.backend.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A backend stand-in on 127.0.0.1:0 answering canned JSON per route. A route given several
 * answers serves them in turn and then keeps repeating the last, which is how a migration's
 * progress advances over successive GETs. Unrouted requests get the contract's 404 body.
 */
final class FakeBackend implements AutoCloseable {

    record Answer(int status, String body) {}

    record Request(String method, String path, String body, String authorization) {}

    private final HttpServer server;
    private final Map<String, Deque<Answer>> routes = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();

    FakeBackend() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Answers {@code METHOD PATH} with each of {@code answers} in turn, the last one for good. */
    FakeBackend on(String method, String path, Answer... answers) {
        routes.put(method + " " + path, new ArrayDeque<>(List.of(answers)));
        return this;
    }

    FakeBackend on(String method, String path, int status, String body) {
        return on(method, path, new Answer(status, body));
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    private void handle(HttpExchange exchange) throws IOException {
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getRawPath();
        requests.add(new Request(method, path, body, exchange.getRequestHeaders().getFirst("Authorization")));
        Deque<Answer> answers = routes.get(method + " " + path);
        Answer answer;
        if (answers == null) {
            answer = new Answer(404, "{\"code\":\"not_found\",\"message\":\"no route " + path + "\",\"details\":{}}");
        } else {
            synchronized (answers) {
                answer = answers.size() > 1 ? answers.poll() : answers.peek();
            }
        }
        byte[] bytes = answer.body().getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(answer.status(), bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
