package io.dlsm.backend.config;

import java.nio.file.Path;

/**
 * The configuration options exactly as given on the command line; {@code null} means "not
 * given", so that {@link ConfigLoader} can tell a flag from a default and let flags win over
 * the config file.
 */
public record CliOptions(String listen, Path stateDir, Path tokenFile, Path registrationTokenFile,
                         Boolean insecureNoAuth, Path configFile, EtcdFlags etcd) {

    public CliOptions {
        etcd = etcd == null ? EtcdFlags.none() : etcd;
    }

    public CliOptions(String listen, Path stateDir, Path tokenFile, Path registrationTokenFile,
                      Boolean insecureNoAuth, Path configFile) {
        this(listen, stateDir, tokenFile, registrationTokenFile, insecureNoAuth, configFile, EtcdFlags.none());
    }

    public CliOptions(String listen, Path stateDir, Path tokenFile, Path configFile) {
        this(listen, stateDir, tokenFile, null, null, configFile);
    }

    public static CliOptions none() {
        return new CliOptions(null, null, null, null, null, null);
    }
}
