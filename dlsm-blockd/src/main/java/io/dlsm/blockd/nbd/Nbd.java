package io.dlsm.blockd.nbd;

/**
 * Every constant of the NBD protocol this project uses, named as in the protocol document
 * (doc/proto.md of the NBD project). Wire layouts are described next to their magic numbers;
 * all integers are big-endian.
 */
public final class Nbd {
    private Nbd() {
    }

    // --- Handshake (fixed newstyle) ---
    /** Server greeting: NBDMAGIC u64, IHAVEOPT u64, handshake flags u16. */
    public static final long NBDMAGIC = 0x4e42444d41474943L;
    /** Client option header: IHAVEOPT u64, option u32, length u32, data. */
    public static final long IHAVEOPT = 0x49484156454F5054L;
    /** Option reply header: magic u64, option u32, reply type u32, length u32, data. */
    public static final long NBD_REP_MAGIC = 0x3e889045565a9L;
    /** Oldstyle servers send this (cliserv_magic) where newstyle ones send IHAVEOPT. */
    public static final long CLISERV_MAGIC = 0x00420281861253L;

    public static final int NBD_FLAG_FIXED_NEWSTYLE = 1;
    public static final int NBD_FLAG_NO_ZEROES = 1 << 1;
    public static final int NBD_FLAG_C_FIXED_NEWSTYLE = 1;
    public static final int NBD_FLAG_C_NO_ZEROES = 1 << 1;

    public static final int NBD_OPT_EXPORT_NAME = 1;
    public static final int NBD_OPT_ABORT = 2;
    public static final int NBD_OPT_LIST = 3;
    public static final int NBD_OPT_STARTTLS = 5;
    public static final int NBD_OPT_INFO = 6;
    public static final int NBD_OPT_GO = 7;
    public static final int NBD_OPT_STRUCTURED_REPLY = 8;
    public static final int NBD_OPT_LIST_META_CONTEXT = 9;
    public static final int NBD_OPT_SET_META_CONTEXT = 10;

    public static final int NBD_REP_ACK = 1;
    public static final int NBD_REP_SERVER = 2;
    public static final int NBD_REP_INFO = 3;
    public static final int NBD_REP_META_CONTEXT = 4;
    public static final int NBD_REP_FLAG_ERROR = 1 << 31;
    public static final int NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR | 1;
    public static final int NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR | 2;
    public static final int NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR | 3;
    public static final int NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR | 4;
    public static final int NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR | 5;
    public static final int NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR | 6;
    public static final int NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR | 7;
    public static final int NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR | 8;
    public static final int NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR | 9;

    /** NBD_INFO_EXPORT: type u16, size u64, transmission flags u16. */
    public static final int NBD_INFO_EXPORT = 0;
    public static final int NBD_INFO_NAME = 1;
    public static final int NBD_INFO_DESCRIPTION = 2;
    /** NBD_INFO_BLOCK_SIZE: type u16, minimum u32, preferred u32, maximum u32. */
    public static final int NBD_INFO_BLOCK_SIZE = 3;

    /** Reply to NBD_OPT_EXPORT_NAME: size u64, flags u16, then 124 zero bytes unless NO_ZEROES. */
    public static final int EXPORT_NAME_REPLY_PADDING = 124;

    // --- Transmission flags (u16, sent with the export) ---
    public static final int NBD_FLAG_HAS_FLAGS = 1;
    public static final int NBD_FLAG_READ_ONLY = 1 << 1;
    public static final int NBD_FLAG_SEND_FLUSH = 1 << 2;
    public static final int NBD_FLAG_SEND_FUA = 1 << 3;
    public static final int NBD_FLAG_ROTATIONAL = 1 << 4;
    public static final int NBD_FLAG_SEND_TRIM = 1 << 5;
    public static final int NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int NBD_FLAG_SEND_DF = 1 << 7;
    public static final int NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int NBD_FLAG_SEND_CACHE = 1 << 10;
    public static final int NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

    // --- Requests: magic u32, flags u16, type u16, cookie u64, offset u64, length u32 ---
    public static final int NBD_REQUEST_MAGIC = 0x25609513;
    public static final int REQUEST_HEADER_SIZE = 28;

    public static final int NBD_CMD_READ = 0;
    public static final int NBD_CMD_WRITE = 1;
    public static final int NBD_CMD_DISC = 2;
    public static final int NBD_CMD_FLUSH = 3;
    public static final int NBD_CMD_TRIM = 4;
    public static final int NBD_CMD_CACHE = 5;
    public static final int NBD_CMD_WRITE_ZEROES = 6;
    public static final int NBD_CMD_BLOCK_STATUS = 7;

    public static final int NBD_CMD_FLAG_FUA = 1;
    public static final int NBD_CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int NBD_CMD_FLAG_DF = 1 << 2;
    public static final int NBD_CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

    // --- Simple reply: magic u32, error u32, cookie u64, then data for a successful READ ---
    public static final int NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int SIMPLE_REPLY_HEADER_SIZE = 16;

    // --- Structured reply chunk: magic u32, flags u16, type u16, cookie u64, length u32 ---
    public static final int NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    public static final int STRUCTURED_REPLY_HEADER_SIZE = 20;
    public static final int NBD_REPLY_FLAG_DONE = 1;

    public static final int NBD_REPLY_TYPE_NONE = 0;
    /** Payload: offset u64, data. */
    public static final int NBD_REPLY_TYPE_OFFSET_DATA = 1;
    /** Payload: offset u64, hole size u32. */
    public static final int NBD_REPLY_TYPE_OFFSET_HOLE = 2;
    /** Payload: context id u32, then descriptors of length u32 and status flags u32. */
    public static final int NBD_REPLY_TYPE_BLOCK_STATUS = 5;
    /** One block status descriptor: length u32, status flags u32. */
    public static final int BLOCK_STATUS_DESCRIPTOR_SIZE = 8;
    public static final int NBD_REPLY_TYPE_ERROR_BIT = 1 << 15;
    /** Payload: error u32, message length u16, message. */
    public static final int NBD_REPLY_TYPE_ERROR = NBD_REPLY_TYPE_ERROR_BIT | 1;
    /** Payload: error u32, message length u16, message, offset u64. */
    public static final int NBD_REPLY_TYPE_ERROR_OFFSET = NBD_REPLY_TYPE_ERROR_BIT | 2;

    // --- Metadata context base:allocation ---
    public static final String BASE_ALLOCATION = "base:allocation";
    public static final int NBD_STATE_HOLE = 1;
    public static final int NBD_STATE_ZERO = 1 << 1;

    // --- Limits this implementation enforces ---
    /** Largest READ/WRITE payload accepted; also advertised as the maximum block size. */
    public static final int MAX_PAYLOAD = 32 * 1024 * 1024;
    public static final int PREFERRED_BLOCK_SIZE = 4096;
    /** The spec caps names and option strings at 4096 bytes. */
    public static final int MAX_STRING = 4096;
    /** Bound on an option's data, so a hostile length never causes a large allocation. */
    public static final int MAX_OPTION_LENGTH = 64 * 1024;
    public static final int DEFAULT_PORT = 10809;

    public static String commandName(int type) {
        return switch (type) {
            case NBD_CMD_READ -> "NBD_CMD_READ";
            case NBD_CMD_WRITE -> "NBD_CMD_WRITE";
            case NBD_CMD_DISC -> "NBD_CMD_DISC";
            case NBD_CMD_FLUSH -> "NBD_CMD_FLUSH";
            case NBD_CMD_TRIM -> "NBD_CMD_TRIM";
            case NBD_CMD_CACHE -> "NBD_CMD_CACHE";
            case NBD_CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
            case NBD_CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
            default -> "NBD_CMD_" + type;
        };
    }
}
