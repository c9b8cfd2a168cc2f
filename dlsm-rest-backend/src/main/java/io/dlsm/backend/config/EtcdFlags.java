package io.dlsm.backend.config;

import java.nio.file.Path;

/** The {@code --etcd-*} options exactly as given on the command line; {@code null} = not given. */
public record EtcdFlags(String endpoints, String prefix, Path ca, Path cert, Path key, String user,
                        Path passwordFile) {

    public static EtcdFlags none() {
        return new EtcdFlags(null, null, null, null, null, null, null);
    }
}
