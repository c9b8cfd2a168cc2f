package io.dlsm.blockd.api;

import java.util.Map;

/** The JSON body of every error response: a stable code, a sentence for humans, and facts. */
public record ApiError(String code, String message, Map<String, Object> details) {
}
