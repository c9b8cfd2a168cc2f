package io.dlsm.backend.cli;

/** The backend answered with an error body ({@code {"code", "message", "details"}}). */
public final class BackendException extends RuntimeException {

    private final int status;
    private final String code;

    public BackendException(int status, String code, String message) {
        super(message);
        this.status = status;
        this.code = code;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }
}
