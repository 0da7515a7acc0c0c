#pragma once
// Framing of the ft protocol (docs/protocol.md, sections 2 to 4): the hello,
// the 12-byte frame header, and a sans-I/O decoder that turns a byte stream
// fed in any split into hellos and whole frames, or one located error.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/base/bytes.hpp"
#include "common/base/limits.hpp"

namespace ft {

inline constexpr std::uint8_t kMagic[8] = {0x89, 'F', 'T', '\r', '\n', 0x1a, '\n', 0x00};
inline constexpr std::uint16_t kProtocolVersion = 1;

inline constexpr std::uint8_t kFlagMore = 0x01;     // ENTRIES: more frames follow
inline constexpr std::uint8_t kFlagHashes = 0x02;   // LIST/ENTRIES: content hashes
inline constexpr std::uint8_t kFlagTargets = 0x04;  // LIST/ENTRIES: symlink targets
inline constexpr std::uint8_t kFlagMeta = 0x20;     // LIST/ENTRIES: owners, links, xattrs (ARCHIVE)
inline constexpr std::uint8_t kFlagCompressed = 0x08;  // DATA: one zstd frame (COMPRESS)
inline constexpr std::uint8_t kFlagDelta = 0x10;       // GET: SIGNATURE frames follow (DELTA_GET)
inline constexpr std::uint8_t kFlagPaced = 0x40;  // LIST: window by window; ENTRIES: window ends

/// Who may send a frame type.
enum class FrameDirection : std::uint8_t { kClientToServer, kServerToClient, kBoth };

/// The frame table (docs/protocol.md, section 3): every frame type once,
/// with its wire name, code, who may send it, the flag bits it may carry and
/// whether its payload is bulk data (limits::kMaxDataPayload) or a control
/// message (limits::kMaxControlPayload). The enum, the names, the direction
/// rule, the flag rule and the payload limit are all generated from it.
/// Types are appended, never renumbered.
#define FT_FRAME_TYPES(X)                                                                      \
  X(kError, "ERROR", 0x01, kServerToClient, 0, false)                                          \
  X(kOk, "OK", 0x02, kServerToClient, 0, false)                                                \
  X(kData, "DATA", 0x03, kBoth, kFlagCompressed, true)                                         \
  X(kEnd, "END", 0x04, kBoth, 0, false)                                                        \
  X(kCancel, "CANCEL", 0x05, kClientToServer, 0, false)                                        \
  X(kPut, "PUT", 0x10, kClientToServer, 0, false)                                              \
  X(kPutReady, "PUT_READY", 0x11, kServerToClient, 0, false)                                   \
  X(kGet, "GET", 0x12, kClientToServer, kFlagDelta, false)                                     \
  X(kGetReady, "GET_READY", 0x13, kServerToClient, 0, false)                                   \
  X(kList, "LIST", 0x14, kClientToServer, kFlagHashes | kFlagTargets | kFlagMeta | kFlagPaced, \
    false)                                                                                     \
  X(kEntries, "ENTRIES", 0x15, kServerToClient,                                                \
    kFlagMore | kFlagHashes | kFlagTargets | kFlagMeta | kFlagPaced, false)                    \
  X(kStat, "STAT", 0x16, kClientToServer, kFlagMeta, false)                                    \
  X(kMkdir, "MKDIR", 0x17, kClientToServer, 0, false)                                          \
  X(kSymlink, "SYMLINK", 0x18, kClientToServer, 0, false)                                      \
  X(kDelete, "DELETE", 0x19, kClientToServer, 0, false)                                        \
  X(kLink, "LINK", 0x1A, kClientToServer, 0, false)                                            \
  X(kHardlink, "HARDLINK", 0x1C, kClientToServer, 0, false)                                    \
  X(kAttrs, "ATTRS", 0x1D, kClientToServer, 0, false)                                          \
  X(kHole, "HOLE", 0x1E, kBoth, 0, false)                                                      \
  X(kSignature, "SIGNATURE", 0x24, kBoth, 0, false)                                            \
  X(kCopy, "COPY", 0x25, kBoth, 0, false)                                                      \
  X(kNext, "NEXT", 0x2A, kClientToServer, 0, false)

enum class FrameType : std::uint8_t {
#define FT_X(name, spelling, code, direction, flags, bulk) name = code,
  FT_FRAME_TYPES(FT_X)
#undef FT_X
};

/// What the frame table says of one type code.
struct FrameTypeInfo {
  const char* name;  // "PUT"; nullptr for a code the protocol does not define
  FrameDirection direction;
  std::uint8_t allowed_flags;
  std::uint32_t max_payload;
};

/// The table row of a type code: `name` is nullptr if it is not defined.
/// A lookup, no allocation: the decoder calls it for every header.
const FrameTypeInfo& frame_type_info(std::uint8_t type);

/// Capability bits of the hello (docs/protocol.md, section 2).
inline constexpr std::uint32_t kCapResume = 0x00000001;
inline constexpr std::uint32_t kCapTrees = 0x00000002;
inline constexpr std::uint32_t kCapEager = 0x00000004;
/// FRAME_CHECK (section 3.1) is two bits, always sent together, so that
/// one bit flipped in a hello cannot turn the check off unnoticed: a hello
/// carrying exactly one of them is corrupted.
inline constexpr std::uint32_t kCapFrameCheck = 0x00000008;
inline constexpr std::uint32_t kCapFrameCheckConfirm = 0x00000010;
inline constexpr std::uint32_t kCapFrameCheckPair = kCapFrameCheck | kCapFrameCheckConfirm;
/// DELETE (section 5.7): the server removes names on request.
inline constexpr std::uint32_t kCapDelete = 0x00000020;
/// LINK (section 5.8): the server hard-links an unchanged reference file.
inline constexpr std::uint32_t kCapLink = 0x00000040;
/// DELTA_PUT (section 5.12): a PUT may ask for the signature of the
/// server's older copy and send COPY frames for what did not change.
inline constexpr std::uint32_t kCapDeltaPut = 0x00001000;
/// DELTA_GET (section 5.16): a GET may send the signature of the client's
/// older copy and receive COPY frames for what did not change.
inline constexpr std::uint32_t kCapDeltaGet = 0x00002000;
/// STREAM (section 5.14): PUTs whose size is known only at their END.
inline constexpr std::uint32_t kCapStream = 0x00008000;
/// ARCHIVE (section 5.9): names of any bytes, link targets stored verbatim,
/// HARDLINK, ATTRS and LIST's META flag.
inline constexpr std::uint32_t kCapArchive = 0x00000080;
/// SPARSE (section 5.9): HOLE frames in the data of a PUT or GET.
inline constexpr std::uint32_t kCapSparse = 0x00000100;
/// OWNERS (section 5.9): the server sets owners and groups (ATTRS) for this
/// identity; it offers it only when it runs as root and the identity may.
inline constexpr std::uint32_t kCapOwners = 0x00000200;
/// COMPRESS (section 5.15): DATA may carry its chunk as one zstd frame
/// (flag kFlagCompressed), in both directions.
inline constexpr std::uint32_t kCapCompress = 0x00000800;
/// PACED (section 5.17): a LIST with the PACED flag is answered one window
/// at a time, the next after the client's NEXT.
inline constexpr std::uint32_t kCapPaced = 0x00010000;
/// DELTA_EARLY (section 5.12), with DELTA_PUT: a DELTA PUT gets PUT_READY
/// at once and the signature after it, while its DATA already flows.
inline constexpr std::uint32_t kCapDeltaEarly = 0x00040000;
inline constexpr std::uint32_t kKnownCapabilities =
    kCapResume | kCapTrees | kCapEager | kCapFrameCheckPair | kCapDelete | kCapLink | kCapArchive |
    kCapSparse | kCapOwners | kCapDeltaPut | kCapStream | kCapCompress | kCapDeltaGet | kCapPaced |
    kCapDeltaEarly;

/// What a hello's capabilities say of FRAME_CHECK.
enum class FrameCheckOffer { kAbsent, kOffered, kCorrupted };
FrameCheckOffer frame_check_offer(std::uint32_t capabilities);
/// PUT flags (section 5.4).
inline constexpr std::uint32_t kPutResumable = 0x1;
/// PUT flag (section 5.6): DATA and END follow at once, no PUT_READY.
inline constexpr std::uint32_t kPutEager = 0x2;
/// PUT flag (section 5.12): send the signature of the file the PUT
/// replaces before PUT_READY, and take COPY frames.
inline constexpr std::uint32_t kPutDelta = 0x4;
/// PUT flag (section 5.14): the size is unknown; PUT.size is 0 and END says.
inline constexpr std::uint32_t kPutStream = 0x8;
/// LINK flag (section 5.8): compare the reference's content hash (which
/// follows in the message) instead of its size and mtime.
inline constexpr std::uint32_t kLinkCheckHash = 0x1;
/// MKDIR flags (section 5.5).
inline constexpr std::uint32_t kMkdirSetMtime = 0x1;

/// Who sent the bytes a decoder reads; decides which frame types are legal.
enum class Sender { kClient, kServer };

/// The name of a frame type ("PUT"), or "0x42" for an unknown one.
std::string frame_type_name(std::uint8_t type);
/// True if `type` is defined and may be sent by `sender`.
bool frame_type_allowed(std::uint8_t type, Sender sender);
/// Largest payload a frame of this type may carry.
std::uint32_t max_payload_for(FrameType type);

struct Hello {
  std::uint16_t version_min = kProtocolVersion;
  std::uint16_t version_max = kProtocolVersion;
  std::uint32_t capabilities = 0;
};

struct FrameHeader {
  FrameType type = FrameType::kOk;
  std::uint8_t flags = 0;
  std::uint32_t request_id = 0;
  std::uint32_t payload_length = 0;
};

struct Frame {
  FrameHeader header;
  Bytes payload;
};

/// Appends a hello to `out`.
void encode_hello(Bytes& out, const Hello& hello);
/// Appends a frame header to `out`; the payload is appended by the caller.
void encode_header(Bytes& out, const FrameHeader& header);
/// Writes a frame header into exactly 12 bytes at `out`.
void encode_header_to(std::uint8_t* out, const FrameHeader& header);

enum class DecodeErrorKind {
  kBadMagic,
  kWrongVersion,
  kUnknownType,
  kWrongDirection,
  kBadFlags,
  kReservedNotZero,
  kZeroRequestId,
  kPayloadTooLarge,
  kTruncated,
  kFrameCheck,  // a header or payload failed its FRAME_CHECK (section 3.1)
};

/// A decode error: what, where in the stream (byte offset), and why.
struct DecodeError {
  DecodeErrorKind kind;
  std::uint64_t offset;
  std::string reason;
};

enum class DecodeStatus { kNeedMore, kHello, kFrame, kError };

/// Incremental decoder for one direction of a connection. Bytes go in either
/// by copy (feed) or, to avoid a copy, by receiving straight into
/// write_area() and calling commit(). next() then yields one item at a time.
/// Errors are sticky: after one, next() keeps returning kError.
class FrameDecoder {
 public:
  struct Options {
    Sender sender = Sender::kClient;  // who produces the bytes decoded
    bool expect_hello = true;
    std::uint16_t version_min = kProtocolVersion;
    std::uint16_t version_max = kProtocolVersion;
    bool frame_check = false;  // frames carry the FRAME_CHECK block (section 3.1)
    // Room for headers and small frames between reads (a large payload is
    // received in place). A reader fed by TLS records, which hold at most
    // 16 KiB each, needs no more than that.
    std::size_t staging_size = kStagingSize;
  };
  static constexpr std::size_t kStagingSize = 64 * 1024;
  static constexpr std::size_t kMinStagingSize = 16 * 1024;

  explicit FrameDecoder(Options options);

  /// Room for the next received bytes. While a large payload is pending and
  /// nothing is staged, this is the payload buffer itself (no copy). Call
  /// next() until kNeedMore before asking again. Empty after an error.
  std::span<std::uint8_t> write_area();
  /// Declares that `n` bytes were written at the start of write_area().
  void commit(std::size_t n);
  /// Copies up to all of `bytes` in; returns how many were taken. Call next()
  /// until kNeedMore, then feed the rest.
  std::size_t feed(ByteSpan bytes);

  /// Decodes the next hello or frame from what was committed.
  DecodeStatus next();
  /// Declares the end of the stream: kError (kTruncated) if a hello or a frame
  /// was cut short, otherwise kNeedMore.
  DecodeStatus finish();

  /// Turns the FRAME_CHECK block on for every frame decoded from now on;
  /// called between the hello and the first frame once both sides agreed.
  void set_frame_check(bool on) { options_.frame_check = on; }
  bool frame_check() const { return options_.frame_check; }
  /// Bytes before a frame's payload: the header, and the check block if on.
  std::size_t header_size() const {
    return limits::kFrameHeaderSize + (options_.frame_check ? limits::kFrameCheckSize : 0);
  }

  /// The hello just decoded (after next() returned kHello).
  const Hello& hello() const { return hello_; }
  /// Moves out the frame just decoded (after next() returned kFrame).
  Frame take_frame() { return std::move(frame_); }
  const DecodeError& error() const { return error_; }
  bool failed() const { return state_ == State::kFailed; }
  /// Gives a frame's payload buffer back once the caller is done with it, so
  /// later large payloads reuse its memory instead of faulting in fresh
  /// pages. The pool is bounded; extra buffers are freed.
  void recycle(Bytes&& buffer);
  /// A recycled buffer of `size` bytes (neither allocated nor filled: its
  /// old bytes stay), or an empty one when the pool holds none of about
  /// that size (at least `size`, at most twice it, so that a small payload
  /// does not pin a large buffer's pages). Payloads take theirs here, and
  /// so may a caller that fills a buffer of a received payload's size
  /// (a compressed chunk's decompressed bytes).
  Bytes take_recycled(std::size_t size);
  /// Frees the recycled buffers (memory is short elsewhere).
  void release_pool();
  /// Memory the decoder holds for payloads: the part of the payload being
  /// received that has arrived, and the recycled buffers. A header alone
  /// costs nothing here: the payload is filled in as its bytes arrive.
  std::size_t buffered_bytes() const;
  /// Bytes of the stream consumed into complete items so far.
  std::uint64_t offset() const { return stream_offset_; }

 private:
  enum class State { kHello, kHeader, kPayload, kFailed };
  std::size_t staged() const { return end_ - begin_; }
  DecodeStatus fail(DecodeErrorKind kind, std::uint64_t at, std::string reason);
  DecodeStatus decode_hello();
  DecodeStatus decode_header();
  DecodeStatus fill_payload();

  static constexpr std::size_t kPoolMinimum = 64 * 1024;  // smaller payloads: plain allocation
  static constexpr std::size_t kPoolCapacity = 8;
  // How much a payload being received grows at least per read.
  static constexpr std::size_t kPayloadStep = 64 * 1024;

  Options options_;
  State state_;
  std::vector<Bytes> pool_;
  std::size_t pooled_bytes_ = 0;  // capacity of the buffers in pool_
  Bytes staging_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool last_area_direct_ = false;
  std::size_t payload_filled_ = 0;
  bool payload_pooled_ = false;      // the payload being received reuses a recycled buffer
  std::uint32_t payload_check_ = 0;  // FRAME_CHECK: what the pending payload must hash to
  std::uint64_t stream_offset_ = 0;  // offset of staging_[begin_] in the stream
  Hello hello_;
  Frame frame_;
  DecodeError error_{DecodeErrorKind::kTruncated, 0, {}};
};

std::string to_string(DecodeErrorKind kind);

}  // namespace ft
