package io.dlsm.backend.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * Merges the command line with an optional properties file. The file's keys are the long
 * option names without the leading dashes, so one name serves both places; a flag given on
 * the command line overrides the file.
 */
public final class ConfigLoader {

    public static final String LISTEN = "listen";
    public static final String STATE_DIR = "state-dir";
    public static final String TOKEN_FILE = "token-file";
    public static final String REGISTRATION_TOKEN_FILE = "registration-token-file";
    public static final String INSECURE_NO_AUTH = "insecure-no-auth";

    private static final Set<String> FILE_KEYS = Set.of(LISTEN, STATE_DIR, TOKEN_FILE, REGISTRATION_TOKEN_FILE,
            INSECURE_NO_AUTH);

    private ConfigLoader() {
    }

    public static BackendConfig load(CliOptions cli) throws ConfigException {
        Properties file = new Properties();
        Path fileDir = Path.of("");
        if (cli.configFile() != null) {
            file = readFile(cli.configFile());
            Path parent = cli.configFile().toAbsolutePath().getParent();
            fileDir = parent != null ? parent : fileDir;
        }

        ListenAddress listen = cli.listen() != null
                ? ListenAddress.parse(cli.listen())
                : file.containsKey(LISTEN)
                        ? ListenAddress.parse(file.getProperty(LISTEN).trim())
                        : BackendConfig.DEFAULT_LISTEN;

        Path stateDir = pathOption(cli.stateDir(), file, STATE_DIR, fileDir)
                .orElseThrow(() -> new ConfigException(
                        "--" + STATE_DIR + " is required (on the command line or in --config)"));
        Optional<Path> tokenFile = pathOption(cli.tokenFile(), file, TOKEN_FILE, fileDir);
        Optional<Path> registrationTokenFile = pathOption(cli.registrationTokenFile(), file, REGISTRATION_TOKEN_FILE,
                fileDir);
        boolean insecure = cli.insecureNoAuth() != null ? cli.insecureNoAuth()
                : Boolean.parseBoolean(file.getProperty(INSECURE_NO_AUTH, "false").trim());
        if (insecure && (tokenFile.isPresent() || registrationTokenFile.isPresent())) {
            throw new ConfigException("--" + INSECURE_NO_AUTH + " contradicts --" + TOKEN_FILE + " and --"
                    + REGISTRATION_TOKEN_FILE + ": choose one");
        }
        return new BackendConfig(listen, stateDir, tokenFile, registrationTokenFile, insecure);
    }

    /**
     * Relative paths in the file are taken relative to the file, not to the working directory,
     * so a config file keeps meaning the same thing wherever the service manager starts us.
     */
    private static Optional<Path> pathOption(Path flag, Properties file, String key, Path fileDir) {
        if (flag != null) {
            return Optional.of(flag);
        }
        String value = file.getProperty(key);
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        return Optional.of(fileDir.resolve(value.trim()));
    }

    private static Properties readFile(Path path) throws ConfigException {
        Properties props = new Properties();
        try (Reader in = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
            props.load(in);
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + path + ": " + e.getMessage(), e);
        }
        // A misspelt key would otherwise be ignored silently and the default used instead.
        Set<String> unknown = new TreeSet<>(props.stringPropertyNames());
        unknown.removeAll(FILE_KEYS);
        if (!unknown.isEmpty()) {
            throw new ConfigException("unknown key(s) in config file " + path + ": " + unknown
                    + "; known keys are " + new TreeSet<>(FILE_KEYS));
        }
        return props;
    }
}
