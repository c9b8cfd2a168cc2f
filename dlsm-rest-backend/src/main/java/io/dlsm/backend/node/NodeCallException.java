package io.dlsm.backend.node;

import io.dlsm.backend.api.error.ApiException;
import io.dlsm.backend.api.error.ErrorCode;
import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A call to a blockd failed: it answered an unexpected status, or could not be reached
 * ({@code status} 0). Reaching the client as 502, with the node and the call named, because
 * the backend itself did nothing wrong.
 */
public final class NodeCallException extends ApiException {

    private final String node;
    private final String call;
    private final int nodeStatus;

    public NodeCallException(String node, String call, int nodeStatus, String message) {
        super(Response.Status.BAD_GATEWAY, ErrorCode.NODE_FAILED,
                "node '" + node + "' failed " + call + ": " + message, details(node, call, nodeStatus));
        this.node = node;
        this.call = call;
        this.nodeStatus = nodeStatus;
    }

    public String node() {
        return node;
    }

    public String call() {
        return call;
    }

    /** The HTTP status blockd answered; 0 if it could not be reached at all. */
    public int nodeStatus() {
        return nodeStatus;
    }

    /** blockd refused the request itself (4xx): retrying the same call will not help. */
    public boolean rejected() {
        return nodeStatus >= 400 && nodeStatus < 500;
    }

    private static Map<String, Object> details(String node, String call, int status) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("node", node);
        d.put("call", call);
        if (status != 0) {
            d.put("nodeStatus", status);
        }
        return d;
    }
}
