package io.dlsm.backend.config;

import java.io.IOException;
import java.io.Reader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
    public static final String ETCD_ENDPOINTS = "etcd-endpoints";
    public static final String ETCD_PREFIX = "etcd-prefix";
    public static final String ETCD_CA = "etcd-ca";
    public static final String ETCD_CERT = "etcd-cert";
    public static final String ETCD_KEY = "etcd-key";
    public static final String ETCD_USER = "etcd-user";
    public static final String ETCD_PASSWORD_FILE = "etcd-password-file";

    private static final Set<String> FILE_KEYS = Set.of(LISTEN, STATE_DIR, TOKEN_FILE, REGISTRATION_TOKEN_FILE,
            INSECURE_NO_AUTH,
            ETCD_ENDPOINTS, ETCD_PREFIX, ETCD_CA, ETCD_CERT, ETCD_KEY, ETCD_USER, ETCD_PASSWORD_FILE);

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
        return new BackendConfig(listen, stateDir, tokenFile, registrationTokenFile, insecure,
                etcd(cli.etcd(), file, fileDir));
    }

    /** Empty unless endpoints are given; the other etcd options without endpoints are a mistake. */
    private static Optional<EtcdOptions> etcd(EtcdFlags flags, Properties file, Path fileDir) throws ConfigException {
        Optional<String> endpoints = textOption(flags.endpoints(), file, ETCD_ENDPOINTS);
        Optional<String> prefix = textOption(flags.prefix(), file, ETCD_PREFIX);
        Optional<Path> ca = pathOption(flags.ca(), file, ETCD_CA, fileDir);
        Optional<Path> cert = pathOption(flags.cert(), file, ETCD_CERT, fileDir);
        Optional<Path> key = pathOption(flags.key(), file, ETCD_KEY, fileDir);
        Optional<String> user = textOption(flags.user(), file, ETCD_USER);
        Optional<Path> passwordFile = pathOption(flags.passwordFile(), file, ETCD_PASSWORD_FILE, fileDir);
        if (endpoints.isEmpty()) {
            if (prefix.isPresent() || ca.isPresent() || cert.isPresent() || key.isPresent() || user.isPresent()
                    || passwordFile.isPresent()) {
                throw new ConfigException("--etcd-* options need --" + ETCD_ENDPOINTS);
            }
            return Optional.empty();
        }
        List<URI> urls = new ArrayList<>();
        for (String part : endpoints.get().split(",")) {
            urls.add(endpointUrl(part.trim()));
        }
        String p = prefix.orElse(EtcdOptions.DEFAULT_PREFIX);
        if (!p.matches("(/[A-Za-z0-9._-]+)+")) {
            throw new ConfigException("--" + ETCD_PREFIX + " must look like /dlsm or /site/dlsm, got '" + p + "'");
        }
        if (cert.isPresent() != key.isPresent()) {
            throw new ConfigException("--" + ETCD_CERT + " and --" + ETCD_KEY + " go together");
        }
        if (user.isPresent() != passwordFile.isPresent()) {
            throw new ConfigException("--" + ETCD_USER + " and --" + ETCD_PASSWORD_FILE + " go together");
        }
        EtcdOptions etcd = new EtcdOptions(urls, p, ca, cert, key, user, passwordFile);
        if (etcd.tls() && urls.stream().anyMatch(u -> !"https".equals(u.getScheme()))) {
            throw new ConfigException("with TLS to etcd every endpoint must be https://, got " + endpoints.get());
        }
        if (cert.isPresent() && !etcd.tls()) {
            throw new ConfigException("--" + ETCD_CERT + " needs https:// endpoints");
        }
        return Optional.of(etcd);
    }

    private static URI endpointUrl(String text) throws ConfigException {
        try {
            URI u = new URI(text);
            if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null
                    || u.getPort() < 1 || (u.getPath() != null && !u.getPath().isEmpty())) {
                throw new URISyntaxException(text, "expected http(s)://HOST:PORT");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new ConfigException("--" + ETCD_ENDPOINTS + ": '" + text
                    + "' is not an etcd client URL like http://127.0.0.1:2379", e);
        }
    }

    private static Optional<String> textOption(String flag, Properties file, String key) {
        if (flag != null) {
            return Optional.of(flag.trim());
        }
        String value = file.getProperty(key);
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(value.trim());
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
