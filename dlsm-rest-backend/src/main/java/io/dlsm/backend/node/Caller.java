package io.dlsm.backend.node;

/** Who a request came from, as its bearer credential proved; what it may do follows from this. */
public sealed interface Caller {

    /** Holder of the backend's API token: may do everything an operator does. */
    record Operator() implements Caller {
    }

    /** Holder of the registration token: may only register a node whose name is not taken. */
    record Registrar() implements Caller {
    }

    /** A node that presented its own credential: may (re-)register, heartbeat and report as itself. */
    record Member(String node) implements Caller {
    }

    /** The backend runs with {@code --insecure-no-auth}: nobody proves anything. */
    record Anyone() implements Caller {
    }
}
