package io.dlsm.blockd;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dlsm.apiguard.RequestTargetGuard;
import io.dlsm.apiguard.SecretFile;
import io.dlsm.blockd.api.BearerTokenFilter;
import io.dlsm.blockd.api.BlockdApplication;
import io.dlsm.blockd.api.Json;
import io.dlsm.blockd.config.BlockdConfig;
import io.dlsm.blockd.config.HostPort;
import io.dlsm.blockd.dm.CapabilityProbe;
import io.dlsm.blockd.dm.CommandRunner;
import io.dlsm.blockd.dm.Dmsetup;
import io.dlsm.blockd.dm.KernelDevices;
import io.dlsm.blockd.dm.KernelPathMode;
import io.dlsm.blockd.dm.NodeInventory;
import io.dlsm.blockd.dm.KernelPathSetting;
import io.dlsm.blockd.dm.KernelPathStore;
import io.dlsm.blockd.dm.KernelPaths;
import io.dlsm.blockd.dm.Losetup;
import io.dlsm.blockd.dm.NbdClientDevices;
import io.dlsm.blockd.dm.NodeKernel;
import io.dlsm.blockd.dm.ProcessCommandRunner;
import io.dlsm.blockd.nbd.BufferPool;
import io.dlsm.blockd.nbd.server.ExportRegistry;
import io.dlsm.blockd.nbd.server.NbdServer;
import io.dlsm.blockd.posix.LibC;
import io.dlsm.blockd.registration.BackendEvents;
import io.dlsm.blockd.registration.BackendLink;
import io.dlsm.blockd.registration.BackendRegistration;
import io.dlsm.blockd.registration.DiskSpace;
import io.dlsm.blockd.sink.SinkManager;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import io.dlsm.blockd.snapshot.SnapshotStore;
import io.dlsm.blockd.tls.NodeTls;
import io.dlsm.blockd.volume.AutoFenceListener;
import io.dlsm.blockd.volume.VolumeStore;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.glassfish.grizzly.http.server.HttpServer;
import org.glassfish.jersey.grizzly2.httpserver.GrizzlyHttpServerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node daemon, assembled by plain constructors: the volume store, the NBD server over
 * its exports, and the control API.
 */
public final class Blockd implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(Blockd.class);
    private static final long BUFFER_CACHE_BYTES = 256L << 20;
    /** The design's bound on how long a set bitmap bit may stay uncommitted. */
    private static final long BITMAP_COMMIT_MS = 1000;

    /** Made at first start in the data dir; scripts and tests read them there. */
    public static final String API_TOKEN = "api-token";
    public static final String BACKEND_CREDENTIAL = "backend-credential";

    private final BlockdConfig config;
    private final ExportRegistry exports = new ExportRegistry();
    private final ObjectMapper mapper = Json.newMapper();
    private ExecutorService workers;
    private FileChannel lockChannel;
    private VolumeStore volumes;
    private SnapshotStore snapshots;
    private SinkManager sinks;
    private ExecutorService background;
    /** One thread for the background fdatasyncs of volumes that sync eagerly (FileBlockDevice). */
    private ExecutorService writeback;
    private ScheduledExecutorService scheduler;
    private NbdServer nbd;
    private HttpServer http;
    private KernelPaths kernelPaths;
    private KernelDevices kernelDevices;
    /** Its own thread: a dm suspend may wait for in-flight I/O, bitmap commits must not wait for it. */
    private ScheduledExecutorService kernelPoll;
    /** How often dm-clone's progress and missed sink transitions are looked at. */
    private static final long KERNEL_POLL_MS = 2000;
    private InetSocketAddress nbdAddress;
    private InetSocketAddress apiAddress;
    private BackendLink backendLink;
    private BackendEvents backendEvents;
    private BackendRegistration registration;

    public Blockd(BlockdConfig config) {
        this.config = config;
    }

    public void start() throws IOException {
        Files.createDirectories(config.dataDir());
        lockDataDir();
        Optional<String> token = readToken();
        BufferPool buffers = new BufferPool(BUFFER_CACHE_BYTES);
        // Loaded before anything listens: a bad certificate file stops the start with its name.
        Optional<NodeTls> tls = config.tls().isPresent() ? Optional.of(NodeTls.load(config.tls().get()))
                : Optional.empty();
        writeback = Executors.newSingleThreadExecutor(daemonThreads("writeback"));
        if (config.registration().isPresent()) {
            BlockdConfig.Registration r = config.registration().get();
            // Made by this node, before its first registration, so a lost answer cannot lose it.
            String credential = SecretFile.readOrCreate(config.dataDir().resolve(BACKEND_CREDENTIAL));
            backendLink = new BackendLink(r.backendUrl(), r.nodeName(), credential, readRegistrationToken(r), token,
                    mapper);
            backendEvents = new BackendEvents(backendLink);
        }
        volumes = new VolumeStore(config.dataDir(), LibC.INSTANCE, exports, mapper, Clock.systemUTC(), writeback,
                backendEvents == null ? AutoFenceListener.NONE : backendEvents);
        background = Executors.newCachedThreadPool(daemonThreads("sink-task"));
        sinks = new SinkManager(config.dataDir(), LibC.INSTANCE, exports, volumes, mapper, buffers,
                Clock.systemUTC(), config.sourceRetryDeadline(), background, writeback, tls);
        sinks.finishInterruptedCommits();
        volumes.open();
        snapshots = new SnapshotStore(config.dataDir(), LibC.INSTANCE, exports, volumes, mapper, Clock.systemUTC());
        snapshots.open();
        sinks.open();
        scheduler = Executors.newSingleThreadScheduledExecutor(daemonThreads("bitmap-commit"));
        scheduler.scheduleWithFixedDelay(sinks::commitBitmaps, BITMAP_COMMIT_MS, BITMAP_COMMIT_MS,
                TimeUnit.MILLISECONDS);
        workers = newWorkerPool(config.ioThreads());
        nbd = new NbdServer(exports, workers, buffers, config.maxConnections(), config.nbdLimits(), tls);
        nbdAddress = nbd.start(config.nbdListen().toSocketAddress());
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        registry.gauge("dlsm_nbd_connections", nbd, NbdServer::connectionCount);
        registry.gauge("dlsm_nbd_handshaking_connections", nbd, NbdServer::handshakingCount);
        registry.gauge("dlsm_nbd_buffer_reserved_bytes", nbd, NbdServer::bufferBytesReserved);
        registry.gauge("dlsm_buffer_pool_in_use_bytes", buffers, BufferPool::inUseBytes);
        registry.gauge("dlsm_buffer_pool_cached_bytes", buffers, BufferPool::cachedBytes);
        NodeKernel kernel = startKernelPath();
        HostPort api = config.apiListen();
        http = GrizzlyHttpServerFactory.createHttpServer(URI.create("http://" + api + "/"),
                new BlockdApplication(volumes, snapshots, sinks, registry, mapper, token, kernel,
                        Optional.ofNullable(kernelDevices)), false);
        Optional<BearerTokenFilter> auth = token.map(BearerTokenFilter::new);
        RequestTargetGuard.install(http, header -> auth.map(a -> a.accepts(header)).orElse(true), "UNAUTHORIZED",
                "BAD_REQUEST_TARGET");
        http.start();
        int apiPort = http.getListeners().iterator().next().getPort();
        apiAddress = new InetSocketAddress(api.host(), apiPort);
        log.info("control API listening on {}", apiAddress);
        if (backendLink != null) {
            startRegistration();
        }
    }

    private static Optional<String> readRegistrationToken(BlockdConfig.Registration r) throws IOException {
        return r.tokenFile().isEmpty() ? Optional.empty() : Optional.of(SecretFile.read(r.tokenFile().get()));
    }

    /** Registers with the bound addresses, so port 0 listeners are announced correctly. */
    private void startRegistration() {
        registration = new BackendRegistration(backendLink,
                BackendRegistration.NodeInfo.of(backendLink.nodeName(), apiAddress, nbdAddress).withCapabilities(
                        BackendRegistration.Capabilities.of(kernelDevices == null ? KernelPathMode.USER_SPACE_ONLY
                                : kernelDevices.mode())), DiskSpace.of(config.dataDir()));
        registration.start();
    }

    /**
     * With {@code --kernel-path} on: checks that the kernel allows the requested mode and
     * finishes or undoes every kernel device transition a crash cut short, before anything new
     * is set up. Off: nothing touches device-mapper or nbd devices.
     */
    private NodeKernel startKernelPath() throws IOException {
        CapabilityProbe probe = CapabilityProbe.forThisNode();
        NodeKernel kernel = new NodeKernel(probe::probe, config.kernelPath());
        Path stateDir = config.dataDir().resolve("kernel");
        if (config.kernelPath() == KernelPathSetting.OFF) {
            if (Files.isDirectory(stateDir) && !new KernelPathStore(stateDir, mapper).all().isEmpty()) {
                log.warn("{} holds kernel device state but --kernel-path is off: those devices are left alone",
                        stateDir);
            }
            return kernel;
        }
        NodeKernel.Report report = kernel.report();
        if (report.mode() == null) {
            throw new IOException("--kernel-path " + config.kernelPath() + " is not available on this node: "
                    + String.join("; ", report.capabilities().notes()));
        }
        log.info("kernel path: {} (this node allows {}; {})", report.mode(), report.bestMode(),
                report.capabilities());
        if (report.mode() != KernelPathMode.USER_SPACE_ONLY) {
            CommandRunner runner = new ProcessCommandRunner();
            Losetup losetup = new Losetup(runner, Path.of("/sys"));
            kernelPaths = new KernelPaths(new Dmsetup(runner, Dmsetup.udevRunning()), new NbdClientDevices(runner, config.tls()),
                    losetup, new KernelPathStore(stateDir, mapper));
            kernelDevices = new KernelDevices(kernelPaths, kernelPaths.recoverAll(), report.mode(),
                    new NodeInventory(volumes, sinks, () -> probe.probe().freeNbdDevices(), () -> {
                        try {
                            return losetup.freeDevices();
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException("cannot list loop devices in /sys/block", e);
                        }
                    }), kernelNbdHost(), nbdAddress.getPort(), stateDir);
            sinks.addStateListener((name, state) -> kernelDevices.reconcile(name));
            kernelPoll = Executors.newSingleThreadScheduledExecutor(daemonThreads("kernel-path-poll"));
            kernelPoll.scheduleWithFixedDelay(kernelDevices::reconcileAll, KERNEL_POLL_MS, KERNEL_POLL_MS,
                    TimeUnit.MILLISECONDS);
        }
        return kernel;
    }

    /** The kernel runs on this node: a wildcard listener is reached on loopback. */
    private String kernelNbdHost() {
        return nbdAddress.getAddress().isAnyLocalAddress() ? "127.0.0.1" : nbdAddress.getAddress().getHostAddress();
    }

    /** This node's kernel devices; empty unless the kernel path is on and available. */
    public Optional<KernelPaths> kernelPaths() {
        return Optional.ofNullable(kernelPaths);
    }

    public InetSocketAddress nbdAddress() {
        return nbdAddress;
    }

    public InetSocketAddress apiAddress() {
        return apiAddress;
    }

    public VolumeStore volumes() {
        return volumes;
    }

    public SinkManager sinks() {
        return sinks;
    }

    public ExportRegistry exports() {
        return exports;
    }

    private void lockDataDir() throws IOException {
        Path lockFile = config.dataDir().resolve(".lock");
        lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = lockChannel.tryLock();
        } catch (OverlappingFileLockException e) {
            // Another Blockd in this same JVM holds it: the same conflict as another process.
            lock = null;
        }
        if (lock == null) {
            lockChannel.close();
            throw new IOException("data directory " + config.dataDir()
                    + " is in use by another blockd; give each daemon its own --data-dir");
        }
    }

    /** The token the control API requires: the given file's, else DATA_DIR/api-token (made at first start). */
    private Optional<String> readToken() throws IOException {
        if (config.insecureNoAuth()) {
            log.warn("--insecure-no-auth: the control API on {} answers ANYBODY who can connect, without a token: "
                    + "they can create, delete and fence volumes, read migration export names and point sinks "
                    + "anywhere. For labs only", config.apiListen());
            return Optional.empty();
        }
        if (config.tokenFile().isPresent()) {
            return Optional.of(SecretFile.read(config.tokenFile().get()));
        }
        Path generated = config.dataDir().resolve(API_TOKEN);
        String token = SecretFile.readOrCreate(generated);
        log.info("the control API requires the bearer token in {}", generated);
        return Optional.of(token);
    }

    private static ExecutorService newWorkerPool(int threads) {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), daemonThreads("nbd-io"));
        pool.prestartAllCoreThreads();
        return pool;
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public void close() throws IOException {
        if (registration != null) {
            registration.close();
        }
        if (backendEvents != null) {
            backendEvents.close();
        }
        if (http != null) {
            http.shutdownNow();
        }
        if (nbd != null) {
            nbd.close();
        }
        if (workers != null) {
            workers.shutdown();
            try {
                workers.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
        if (kernelPoll != null) {
            kernelPoll.shutdownNow();
        }
        if (sinks != null) {
            sinks.close();
        }
        if (background != null) {
            background.shutdownNow();
        }
        if (volumes != null) {
            volumes.close();
        }
        if (snapshots != null) {
            snapshots.close();
        }
        if (writeback != null) {
            // Not shutdownNow: an interrupt during FileChannel.force closes the channel.
            writeback.shutdown();
        }
        if (lockChannel != null) {
            lockChannel.close();
        }
    }
}
