package io.dlsm.backend.node;

/**
 * Body of {@code POST /v1/nodes}: what a blockd says about itself when it (re-)registers.
 *
 * @param credential the secret the node will prove itself with from now on; read at the first
 *                   registration only (made by the node, so a lost answer cannot lose it)
 * @param apiToken   the bearer token of the node's own control API, for the backend's calls to
 *                   {@code apiUrl}; absent when the node runs with {@code --insecure-no-auth}
 */
public record NodeRegistration(String name, String apiUrl, String nbdHost, Integer nbdPort,
                               Capabilities capabilities, Long capacityBytes, Long freeBytes,
                               String credential, String apiToken) {

    public NodeRegistration(String name, String apiUrl, String nbdHost, Integer nbdPort, Capabilities capabilities,
                            Long capacityBytes, Long freeBytes) {
        this(name, apiUrl, nbdHost, nbdPort, capabilities, capacityBytes, freeBytes, null, null);
    }

    @Override
    public String toString() {
        // Never the secrets, should a registration ever be logged.
        return "NodeRegistration[" + name + " " + apiUrl + "]";
    }
}
