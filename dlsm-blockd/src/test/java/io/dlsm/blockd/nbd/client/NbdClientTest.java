package io.dlsm.blockd.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.block.Extent;
import io.dlsm.blockd.nbd.Nbd;
import io.dlsm.blockd.nbd.ProtocolException;
import io.dlsm.blockd.nbd.Request;
import io.dlsm.blockd.nbd.TricklingChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client against a scripted server: exact handshake bytes, replies in every shape the spec
 * allows, and a server that misbehaves or disappears. The client reads through a channel that
 * yields one byte per read, so every frame is parsed from many partial reads.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NbdClientTest {
    private static final String GREETING = "4e42444d41474943 49484156454f5054 0003";
    private static final String CLIENT_FLAGS = "00000003";
    private static final String OPT_STRUCTURED_REPLY = "49484156454f5054 00000008 00000000";
    private static final String ACK_STRUCTURED_REPLY = "0003e889045565a9 00000008 00000001 00000000";
    private static final String BASE_ALLOCATION = "626173653a616c6c6f636174696f6e";
    /** Export "disk", one query: base:allocation. */
    private static final String OPT_SET_META_CONTEXT =
            "49484156454f5054 0000000a 0000001f 00000004 6469736b 00000001 0000000f" + BASE_ALLOCATION;
    private static final String META_CONTEXT_ID_7 =
            "0003e889045565a9 0000000a 00000004 00000013 00000007" + BASE_ALLOCATION;
    private static final String ACK_META_CONTEXT = "0003e889045565a9 0000000a 00000001 00000000";
    /** Export "disk", one information request: NBD_INFO_BLOCK_SIZE. */
    private static final String OPT_GO = "49484156454f5054 00000007 0000000c 00000004 6469736b 0001 0003";
    /** 1 MiB; HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|SEND_FAST_ZERO. */
    private static final String INFO_EXPORT =
            "0003e889045565a9 00000007 00000003 0000000c 0000 0000000000100000 086d";
    /** min 512, preferred 4096, max 64 KiB. */
    private static final String INFO_BLOCK_SIZE =
            "0003e889045565a9 00000007 00000003 0000000e 0003 00000200 00001000 00010000";
    private static final String ACK_GO = "0003e889045565a9 00000007 00000001 00000000";

    private ScriptedServer server;
    private NbdClient client;

    @BeforeEach
    void setUp() throws IOException {
        server = new ScriptedServer();
    }

    @AfterEach
    void tearDown() throws IOException {
        if (client != null) {
            server.dropConnection();
            client.close();
        }
        server.close();
    }

    private interface Script {
        void run() throws IOException;
    }

    /** Starts the client's handshake in the background, plays the server's side, returns the client. */
    private NbdClient handshake(Script serverSide) throws Exception {
        SocketChannel ch = server.connectClient();
        CompletableFuture<NbdClient> opened = CompletableFuture.supplyAsync(() -> {
            try {
                return NbdClient.open(new TricklingChannel(ch, 1), "disk", "scripted", Duration.ofSeconds(20));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        serverSide.run();
        try {
            return opened.get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof UncheckedIOException u ? u.getCause() : e;
        }
    }

    /** The server's side up to the point where it answers NBD_OPT_SET_META_CONTEXT. */
    private void greetingThroughMetaContextRequest() throws IOException {
        server.send(GREETING);
        server.expect(CLIENT_FLAGS);
        server.expect(OPT_STRUCTURED_REPLY);
        server.send(ACK_STRUCTURED_REPLY);
        server.expect(OPT_SET_META_CONTEXT);
    }

    private void standardHandshake() throws Exception {
        client = handshake(this::standardServerSide);
    }

    /** The server's side of a handshake that agrees to everything the client asks. */
    private void standardServerSide() throws IOException {
        greetingThroughMetaContextRequest();
        server.send(META_CONTEXT_ID_7);
        server.send(ACK_META_CONTEXT);
        server.expect(OPT_GO);
        server.send(INFO_EXPORT);
        server.send(INFO_BLOCK_SIZE);
        server.send(ACK_GO);
    }

    @Test
    void handshakeSendsGoldenBytesAndParsesTheExport() throws Exception {
        standardHandshake();
        assertThat(client.size()).isEqualTo(1 << 20);
        assertThat(client.transmissionFlags()).isEqualTo(0x086d);
        assertThat(client.blockSize()).isEqualTo(new BlockSizeConstraints(512, 4096, 65536));
        assertThat(client.structuredReplies()).isTrue();
        assertThat(client.canBlockStatus()).isTrue();
        assertThat(client.canFlush()).isTrue();
        assertThat(client.canFua()).isTrue();
        assertThat(client.canTrim()).isTrue();
        assertThat(client.canWriteZeroes()).isTrue();
        assertThat(client.canFastZero()).isTrue();
        assertThat(client.readOnly()).isFalse();
        assertThat(client.canMultiConn()).isFalse();
    }

    @Test
    void serverWithoutMetaContextsStillConnectsWithoutBlockStatus() throws Exception {
        client = handshake(() -> {
            greetingThroughMetaContextRequest();
            server.send("0003e889045565a9 0000000a 80000001 00000000");
            server.expect(OPT_GO);
            server.send(INFO_EXPORT);
            server.send(ACK_GO);
        });
        assertThat(client.canBlockStatus()).isFalse();
        assertThat(client.blockSize()).isEqualTo(BlockSizeConstraints.DEFAULT);
        assertThatThrownBy(() -> client.blockStatus(0, 4096))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ENOTSUP));
    }

    @Test
    void fallsBackToExportNameOnlyWhenGoIsUnsupported() throws Exception {
        client = handshake(() -> {
            // No NO_ZEROES offered: the client must not set it and must read the 124-byte padding.
            server.send("4e42444d41474943 49484156454f5054 0001");
            server.expect("00000001");
            server.expect(OPT_STRUCTURED_REPLY);
            server.send("0003e889045565a9 00000008 80000001 00000000");
            server.expect(OPT_GO);
            server.send("0003e889045565a9 00000007 80000001 00000000");
            server.expect("49484156454f5054 00000001 00000004 6469736b");
            server.send("0000000000200000 0003" + "00".repeat(Nbd.EXPORT_NAME_REPLY_PADDING));
        });
        assertThat(client.size()).isEqualTo(2 << 20);
        assertThat(client.readOnly()).isTrue();
        assertThat(client.structuredReplies()).isFalse();
        assertThat(client.canBlockStatus()).isFalse();

        // Simple replies only: a read's data follows the simple reply header.
        ByteBuffer dst = ByteBuffer.allocate(8);
        CompletableFuture<Void> read = client.readAsync(8, dst);
        Request r = server.readRequest();
        assertThat(r.type()).isEqualTo(Nbd.NBD_CMD_READ);
        server.sendSimple(r.cookie(), 0, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        read.get();
        assertThat(dst.array()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThatThrownBy(() -> client.write(0, ByteBuffer.allocate(1), false))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EPERM));
    }

    @Test
    void unknownExportIsAnOptionErrorWithTheServersMessage() throws Exception {
        assertThatThrownBy(() -> handshake(() -> {
            greetingThroughMetaContextRequest();
            server.send(ACK_META_CONTEXT);
            server.expect(OPT_GO);
            server.send("0003e889045565a9 00000007 80000006 00000007 6e6f7065206e6f"); // "nope no"
        })).isInstanceOfSatisfying(NbdOptionException.class, e -> {
            assertThat(e.replyType()).isEqualTo(Nbd.NBD_REP_ERR_UNKNOWN);
            assertThat(e.getMessage()).contains("NBD_REP_ERR_UNKNOWN").contains("nope no").contains("disk");
        });
    }

    @Test
    void hostileOptionReplyLengthIsRejectedBeforeAllocating() {
        assertThatThrownBy(() -> handshake(() -> {
            server.send(GREETING);
            server.expect(CLIENT_FLAGS);
            server.expect(OPT_STRUCTURED_REPLY);
            server.send("0003e889045565a9 00000008 00000001 7fffffff");
        })).isInstanceOf(ProtocolException.class).hasMessageContaining("exceeds");
    }

    @Test
    void listReturnsExportNamesAndDescriptions() throws Exception {
        CompletableFuture<List<ListedExport>> listed = CompletableFuture.supplyAsync(() -> {
            try {
                return NbdClient.list("127.0.0.1", server.address().getPort());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        server.accept();
        server.send(GREETING);
        server.expect(CLIENT_FLAGS);
        server.expect("49484156454f5054 00000003 00000000");
        server.send("0003e889045565a9 00000003 00000002 00000008 00000004 6469736b"); // "disk"
        server.send("0003e889045565a9 00000003 00000002 00000009 00000003 766d31 6869"); // "vm1", "hi"
        server.send("0003e889045565a9 00000003 00000001 00000000");
        server.expect("49484156454f5054 00000002 00000000");
        assertThat(listed.get(60, TimeUnit.SECONDS))
                .containsExactly(new ListedExport("disk", ""), new ListedExport("vm1", "hi"));
    }

    @Test
    void readPlacesOutOfOrderDataAndHoleChunksOfInterleavedRequests() throws Exception {
        standardHandshake();
        ByteBuffer a = ByteBuffer.allocate(3 * 512);
        Arrays.fill(a.array(), (byte) 0x55); // the hole must overwrite this
        ByteBuffer b = ByteBuffer.allocate(512);
        CompletableFuture<Void> readA = client.readAsync(4096, a);
        CompletableFuture<Void> readB = client.readAsync(8192, b);
        Request ra = server.readRequest();
        Request rb = server.readRequest();
        assertThat(ra).isEqualTo(new Request(0, Nbd.NBD_CMD_READ, ra.cookie(), 4096, 1536));
        assertThat(rb.offset()).isEqualTo(8192);

        server.sendData(rb.cookie(), 8192, filled(512, 0xbb), false);
        server.sendData(ra.cookie(), 4096 + 1024, filled(512, 0x03), false);
        server.sendHole(ra.cookie(), 4096 + 512, 512, false);
        server.sendChunk(rb.cookie(), Nbd.NBD_REPLY_TYPE_NONE, true, new byte[0]);
        readB.get(60, TimeUnit.SECONDS);
        assertThat(readA).isNotDone();
        server.sendData(ra.cookie(), 4096, filled(512, 0x01), true);
        readA.get(60, TimeUnit.SECONDS);

        byte[] want = new byte[1536];
        Arrays.fill(want, 0, 512, (byte) 0x01);
        Arrays.fill(want, 1024, 1536, (byte) 0x03);
        assertThat(a.array()).isEqualTo(want);
        assertThat(b.array()).isEqualTo(filled(512, 0xbb));
        assertThat(a.position()).as("async calls leave the buffer's position alone").isZero();
    }

    @Test
    void errorChunkFailsOnlyItsRequestWithErrnoAndMessage() throws Exception {
        standardHandshake();
        CompletableFuture<Void> failing = client.readAsync(0, ByteBuffer.allocate(512));
        CompletableFuture<Void> fine = client.writeAsync(512, ByteBuffer.wrap(filled(512, 7)), true);
        Request r1 = server.readRequest();
        Request r2 = server.readRequest();
        assertThat(r2.flags()).isEqualTo(Nbd.NBD_CMD_FLAG_FUA);
        assertThat(server.readPayload(512)).isEqualTo(filled(512, 7));
        server.sendError(r1.cookie(), Nbd.NBD_REPLY_TYPE_ERROR, 28, "disk full", 0);
        server.sendSimple(r2.cookie(), 0, new byte[0]);

        assertThatThrownBy(() -> failing.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(BlockIoException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.ENOSPC);
                    assertThat(e.getMessage()).contains("NBD_CMD_READ").contains("disk full");
                });
        fine.get(60, TimeUnit.SECONDS);
        assertThat(client.isOpen()).isTrue();
    }

    @Test
    void errorOffsetChunkAfterDataFailsTheReadAndReportsTheOffset() throws Exception {
        standardHandshake();
        CompletableFuture<Void> read = client.readAsync(0, ByteBuffer.allocate(1024));
        Request r = server.readRequest();
        server.sendData(r.cookie(), 0, filled(512, 1), false);
        ByteBuffer err = ByteBuffer.allocate(6 + 3 + 8).putInt(5).putShort((short) 3).put("bad".getBytes()).putLong(512);
        server.sendChunk(r.cookie(), Nbd.NBD_REPLY_TYPE_ERROR_OFFSET, false, err.array());
        server.sendChunk(r.cookie(), Nbd.NBD_REPLY_TYPE_NONE, true, new byte[0]);
        assertThatThrownBy(() -> read.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(BlockIoException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.EIO);
                    assertThat(e.getMessage()).contains("at offset 512").contains("bad");
                });
    }

    @Test
    void simpleReplyErrorsMapErrnos() throws Exception {
        standardHandshake();
        CompletableFuture<Void> flush = client.flushAsync();
        CompletableFuture<Void> trim = client.trimAsync(0, 4096);
        CompletableFuture<Void> zero = client.writeZeroesAsync(4096, 4096, true, true);
        Request f = server.readRequest();
        Request t = server.readRequest();
        Request z = server.readRequest();
        assertThat(f.type()).isEqualTo(Nbd.NBD_CMD_FLUSH);
        assertThat(t).isEqualTo(new Request(0, Nbd.NBD_CMD_TRIM, t.cookie(), 0, 4096));
        assertThat(z.flags()).isEqualTo(Nbd.NBD_CMD_FLAG_NO_HOLE | Nbd.NBD_CMD_FLAG_FAST_ZERO);
        server.sendSimple(z.cookie(), 95, new byte[0]);
        server.sendSimple(f.cookie(), 0, new byte[0]);
        server.sendSimple(t.cookie(), 1, new byte[0]);
        flush.get(60, TimeUnit.SECONDS);
        assertThatThrownBy(() -> trim.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EPERM));
        assertThatThrownBy(() -> zero.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ENOTSUP));
    }

    @Test
    void blockStatusClipsToTheRequestedRange() throws Exception {
        standardHandshake();
        CompletableFuture<List<Extent>> status = client.blockStatusAsync(0, 8192, false);
        Request r = server.readRequest();
        assertThat(r).isEqualTo(new Request(0, Nbd.NBD_CMD_BLOCK_STATUS, r.cookie(), 0, 8192));
        ByteBuffer p = ByteBuffer.allocate(4 + 3 * 8).putInt(7)
                .putInt(4096).putInt(0)
                .putInt(2048).putInt(Nbd.NBD_STATE_HOLE | Nbd.NBD_STATE_ZERO)
                .putInt(65536).putInt(Nbd.NBD_STATE_ZERO);
        server.sendChunk(r.cookie(), Nbd.NBD_REPLY_TYPE_BLOCK_STATUS, true, p.array());
        assertThat(status.get(60, TimeUnit.SECONDS)).containsExactly(
                Extent.data(0, 4096), Extent.hole(4096, 2048), new Extent(6144, 2048, false, true));
    }

    @Test
    void readsLargerThanTheMaximumAreSplit() throws Exception {
        standardHandshake();
        ByteBuffer dst = ByteBuffer.allocate(160 * 1024);
        CompletableFuture<Void> read = client.readAsync(0, dst);
        List<Request> sent = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            sent.add(server.readRequest());
        }
        assertThat(sent).extracting(Request::offset).containsExactly(0L, 65536L, 131072L);
        assertThat(sent).extracting(Request::length).containsExactly(65536L, 65536L, 32768L);
        for (int i = 2; i >= 0; i--) {
            Request r = sent.get(i);
            server.sendData(r.cookie(), r.offset(), filled((int) r.length(), i + 1), true);
        }
        read.get(60, TimeUnit.SECONDS);
        assertThat(dst.get(0)).isEqualTo((byte) 1);
        assertThat(dst.get(65536)).isEqualTo((byte) 2);
        assertThat(dst.get(160 * 1024 - 1)).isEqualTo((byte) 3);
    }

    @Test
    void localChecksRejectBadRequestsWithoutSendingThem() throws Exception {
        standardHandshake();
        assertThatThrownBy(() -> client.read(1 << 20, ByteBuffer.allocate(512)))
                .isInstanceOfSatisfying(BlockIoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
        assertThatThrownBy(() -> client.read(100, ByteBuffer.allocate(512)))
                .hasMessageContaining("aligned");
        assertThat(client.inFlightCount()).isZero();
    }

    @Test
    void chunkLongerThanRequestedKillsTheConnectionAndEveryRequest() throws Exception {
        standardHandshake();
        CompletableFuture<Void> small = client.readAsync(0, ByteBuffer.allocate(512));
        CompletableFuture<Void> other = client.flushAsync();
        Request r = server.readRequest();
        server.readRequest();
        // Announces 8 + 4096 bytes for a 512-byte read; the client must not try to read them.
        server.send(ByteBuffer.allocate(20).putInt(Nbd.NBD_STRUCTURED_REPLY_MAGIC).putShort((short) 1)
                .putShort((short) Nbd.NBD_REPLY_TYPE_OFFSET_DATA).putLong(r.cookie()).putInt(8 + 4096).array());
        assertThatThrownBy(() -> small.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOf(IOException.class).hasRootCauseInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> other.get(60, TimeUnit.SECONDS)).cause().isInstanceOf(IOException.class);
        assertThat(client.isOpen()).isFalse();
    }

    @Test
    void replyForAnUnknownCookieKillsTheConnection() throws Exception {
        standardHandshake();
        CompletableFuture<Void> flush = client.flushAsync();
        server.readRequest();
        server.sendSimple(0xdeadL, 0, new byte[0]);
        assertThatThrownBy(() -> flush.get(60, TimeUnit.SECONDS)).cause()
                .isInstanceOf(IOException.class).hasMessageContaining("unknown cookie");
    }

    @Test
    void droppedConnectionFailsEveryPendingAndLaterRequest() throws Exception {
        standardHandshake();
        List<CompletableFuture<Void>> pending = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            pending.add(client.readAsync(i * 512L, ByteBuffer.allocate(512)));
        }
        for (int i = 0; i < 20; i++) {
            server.readRequest();
        }
        server.dropConnection();
        for (CompletableFuture<Void> f : pending) {
            assertThatThrownBy(() -> f.get(60, TimeUnit.SECONDS)).cause().isInstanceOf(IOException.class);
        }
        assertThat(client.isOpen()).isFalse();
        assertThatThrownBy(() -> client.flush()).isInstanceOf(IOException.class)
                .hasMessageContaining("connection unusable");
    }

    @Test
    void closeSendsDisconnectOnceAndFailsLaterRequests() throws Exception {
        standardHandshake();
        client.close();
        Request disc = server.readRequest();
        assertThat(disc.type()).isEqualTo(Nbd.NBD_CMD_DISC);
        client.close();
        assertThat(client.isOpen()).isFalse();
        assertThatThrownBy(() -> client.readAsync(0, ByteBuffer.allocate(512)).get(60, TimeUnit.SECONDS))
                .cause().isInstanceOf(IOException.class);
    }

    @Test
    void closeLetsRequestsAlreadySentFinish() throws Exception {
        standardHandshake();
        CompletableFuture<Void> flush = client.flushAsync();
        Request f = server.readRequest();
        CompletableFuture<Void> closed = CompletableFuture.runAsync(client::close);
        assertThat(server.readRequest().type()).isEqualTo(Nbd.NBD_CMD_DISC);
        server.sendSimple(f.cookie(), 0, new byte[0]);
        flush.get(60, TimeUnit.SECONDS);
        closed.get(60, TimeUnit.SECONDS);
    }

    /** {@link #standardHandshake()} for a client whose requesters read their own replies. */
    private void requesterHandshake(Duration replyTimeout) throws Exception {
        SocketChannel ch = server.connectClient();
        CompletableFuture<NbdClient> opened = CompletableFuture.supplyAsync(() -> {
            try {
                return NbdClient.openRequesterRead(ch, "disk", "scripted", Duration.ofSeconds(20), replyTimeout);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        standardServerSide();
        client = opened.get(20, TimeUnit.SECONDS);
    }

    @Test
    void requesterReadsItsOwnReplyAndGetsACompletedFuture() throws Exception {
        requesterHandshake(Duration.ofSeconds(20));
        ByteBuffer dst = ByteBuffer.allocate(1024);
        Thread[] completedOn = new Thread[1];
        CompletableFuture<Thread> requester = CompletableFuture.supplyAsync(() -> {
            CompletableFuture<Void> f = client.readAsync(4096, dst);
            assertThat(f).as("the reply was read before readAsync returned").isDone();
            f.thenRun(() -> completedOn[0] = Thread.currentThread());
            return Thread.currentThread();
        });
        Request r = server.readRequest();
        assertThat(r).isEqualTo(new Request(0, Nbd.NBD_CMD_READ, r.cookie(), 4096, 1024));
        server.sendHole(r.cookie(), 4096 + 512, 512, false);
        server.sendData(r.cookie(), 4096, filled(512, 0x42), true);
        assertThat(requester.get(60, TimeUnit.SECONDS)).isSameAs(completedOn[0]);
        byte[] want = new byte[1024];
        Arrays.fill(want, 0, 512, (byte) 0x42);
        assertThat(dst.array()).isEqualTo(want);

        // The connection stays usable for the next exchange, here a write with its payload.
        CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
            try {
                client.write(0, ByteBuffer.wrap(filled(512, 9)), false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        Request w = server.readRequest();
        assertThat(w.type()).isEqualTo(Nbd.NBD_CMD_WRITE);
        assertThat(server.readPayload(512)).isEqualTo(filled(512, 9));
        server.sendSimple(w.cookie(), 0, new byte[0]);
        write.get(60, TimeUnit.SECONDS);
        assertThat(client.isOpen()).isTrue();
    }

    @Test
    void requesterRequestsNeverOverlapOnTheWire() throws Exception {
        requesterHandshake(Duration.ofSeconds(20));
        CompletableFuture<Void> first = CompletableFuture.runAsync(this::flushUnchecked);
        Request f1 = server.readRequest();
        CompletableFuture<Void> second = CompletableFuture.runAsync(this::flushUnchecked);
        // The second requester waits for the first exchange: nothing more is sent until it ends.
        assertThat(second).isNotDone();
        server.sendSimple(f1.cookie(), 0, new byte[0]);
        first.get(60, TimeUnit.SECONDS);
        Request f2 = server.readRequest();
        assertThat(f2.cookie()).isNotEqualTo(f1.cookie());
        server.sendSimple(f2.cookie(), 0, new byte[0]);
        second.get(60, TimeUnit.SECONDS);
    }

    @Test
    void requesterReplyLaterThanTheTimeoutBreaksTheConnection() throws Exception {
        requesterHandshake(Duration.ofMillis(200));
        CompletableFuture<Void> read = readInBackground();
        server.readRequest();
        // The server never answers.
        assertThatThrownBy(() -> read.get(20, TimeUnit.SECONDS)).cause().isInstanceOf(UncheckedIOException.class)
                .hasRootCauseInstanceOf(java.net.SocketTimeoutException.class);
        assertThat(client.isOpen()).isFalse();
    }

    @Test
    void requesterConnectionDroppedWhileIdleIsSeenBeforeTheNextRequest() throws Exception {
        requesterHandshake(Duration.ofSeconds(20));
        assertThat(client.isOpen()).isTrue();
        server.dropConnection();
        awaitClosedWhileIdle();
    }

    @Test
    void requesterConnectionGettingUnaskedBytesIsBroken() throws Exception {
        requesterHandshake(Duration.ofSeconds(20));
        server.sendSimple(99, 0, new byte[0]);
        awaitClosedWhileIdle();
        assertThatThrownBy(() -> client.flush()).isInstanceOf(IOException.class)
                .hasMessageContaining("no request was outstanding");
    }

    @Test
    void requesterWaitingForAReplyFailsAtOnceWhenAnotherThreadCloses() throws Exception {
        requesterHandshake(Duration.ofMinutes(10));
        CompletableFuture<Void> read = readInBackground();
        server.readRequest();
        CompletableFuture.runAsync(client::close).get(20, TimeUnit.SECONDS);
        // Far sooner than the ten-minute reply timeout.
        assertThatThrownBy(() -> read.get(20, TimeUnit.SECONDS)).cause().isInstanceOf(UncheckedIOException.class);
        assertThat(client.isOpen()).isFalse();
    }

    @Test
    void requesterCloseSendsDisconnect() throws Exception {
        requesterHandshake(Duration.ofSeconds(20));
        client.close();
        assertThat(server.readRequest().type()).isEqualTo(Nbd.NBD_CMD_DISC);
        assertThat(client.isOpen()).isFalse();
    }

    private CompletableFuture<Void> readInBackground() {
        return CompletableFuture.runAsync(() -> {
            try {
                client.read(0, ByteBuffer.allocate(512));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** What the server did reaches an idle client a moment later; bounded. */
    private void awaitClosedWhileIdle() throws InterruptedException {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (client.isOpen() && System.nanoTime() < giveUp) {
            Thread.sleep(5);
        }
        assertThat(client.isOpen()).isFalse();
    }

    private void flushUnchecked() {
        try {
            client.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }
}
