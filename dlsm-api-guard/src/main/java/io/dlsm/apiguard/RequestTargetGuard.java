package io.dlsm.apiguard;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Predicate;
import org.glassfish.grizzly.http.server.HttpHandler;
import org.glassfish.grizzly.http.server.HttpHandlerRegistration;
import org.glassfish.grizzly.http.server.HttpServer;
import org.glassfish.grizzly.http.server.Request;
import org.glassfish.grizzly.http.server.Response;
import org.glassfish.grizzly.http.server.ServerConfiguration;

/**
 * Sits in front of a daemon's JAX-RS application and answers the request targets it cannot
 * parse ({@code /v1/volumes/%zz}, raw {@code []}, raw non-ASCII bytes): Jersey would fail
 * building their URI and Grizzly would send a 500 HTML page. They get 400 in the APIs'
 * {@code {code, message, details}} form, but only to a caller whose credential is valid; any
 * other caller gets 401, as for every path, so no path can be probed without a token.
 */
public final class RequestTargetGuard extends HttpHandler {
    private final HttpHandler app;
    private final Predicate<String> authorized;
    private final String unauthorizedCode;
    private final String badTargetCode;

    /**
     * @param authorized whether an {@code Authorization} header value (null if absent) carries a
     *                   credential this daemon accepts for some call
     * @param unauthorizedCode, badTargetCode the error codes in the daemon's own spelling
     */
    public RequestTargetGuard(HttpHandler app, Predicate<String> authorized, String unauthorizedCode,
                              String badTargetCode) {
        this.app = app;
        this.authorized = authorized;
        this.unauthorizedCode = unauthorizedCode;
        this.badTargetCode = badTargetCode;
    }

    /**
     * Puts a guard in front of every handler of {@code server} (before it starts), however it
     * was built (plain or TLS listener).
     */
    public static void install(HttpServer server, Predicate<String> authorized, String unauthorizedCode,
                               String badTargetCode) {
        ServerConfiguration config = server.getServerConfiguration();
        for (Map.Entry<HttpHandler, HttpHandlerRegistration[]> e : Map.copyOf(config.getHttpHandlersWithMapping())
                .entrySet()) {
            config.removeHttpHandler(e.getKey());
            config.addHttpHandler(new RequestTargetGuard(e.getKey(), authorized, unauthorizedCode, badTargetCode),
                    e.getValue());
        }
    }

    @Override
    public void service(Request request, Response response) throws Exception {
        String problem = problem(request.getRequestURI(), request.getQueryString());
        if (problem == null) {
            app.service(request, response);
            return;
        }
        if (!authorized.test(request.getHeader("Authorization"))) {
            response.setHeader("WWW-Authenticate", "Bearer");
            answer(response, 401, unauthorizedCode, "missing or wrong bearer token: send 'Authorization: Bearer "
                    + "<token>' with the token from the daemon's token file");
            return;
        }
        answer(response, 400, badTargetCode, "the request target is malformed: " + problem
                + "; percent-encode each path segment as UTF-8 (RFC 3986)");
    }

    /** Why a raw path and query cannot be served, or null if they can. */
    static String problem(String rawPath, String rawQuery) {
        String target = rawQuery == null ? rawPath : rawPath + "?" + rawQuery;
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            if (c <= 0x20 || c >= 0x7f) {
                return "character " + String.format("0x%02x", (int) c) + " at offset " + i
                        + " is not printable ASCII";
            }
            if (c == '%' && (i + 2 >= target.length() || !hex(target.charAt(i + 1)) || !hex(target.charAt(i + 2)))) {
                return "'%' at offset " + i + " is not followed by two hex digits";
            }
        }
        try {
            new URI(rawPath);
        } catch (URISyntaxException e) {
            return "the path does not parse (" + e.getReason() + " at offset " + e.getIndex() + ")";
        }
        if (!decodesAsUtf8(rawPath)) {
            return "its percent-escapes are not UTF-8";
        }
        return null;
    }

    private static boolean hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    private static boolean decodesAsUtf8(String path) {
        ByteBuffer bytes = ByteBuffer.allocate(path.length());
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == '%') {
                bytes.put((byte) Integer.parseInt(path, i + 1, i + 3, 16));
                i += 2;
            } else {
                bytes.put((byte) c);
            }
        }
        bytes.flip();
        try {
            CharBuffer ignored = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes);
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    private static void answer(Response response, int status, String code, String message) throws IOException {
        byte[] body = ("{\"code\":\"" + code + "\",\"message\":\"" + jsonEscape(message) + "\",\"details\":{}}")
                .getBytes(StandardCharsets.UTF_8);
        response.setStatus(status);
        response.setContentType("application/json");
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
    }

    /** Messages are ours and ASCII; quotes and backslashes are all that need escaping. */
    private static String jsonEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    @Override
    public void start() {
        app.start();
    }

    @Override
    public void destroy() {
        app.destroy();
    }
}
