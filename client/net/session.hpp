#pragma once
// One protocol session of a client command over a Connection: sends the
// client hello, waits with poll() for the socket to be readable or writable,
// decodes the server's hello and frames, answers connection-level errors
// (ERROR with request id 0, decode errors, end of stream, silence) itself
// and hands every other frame to the command's SessionHandler. The client
// offers the RESUME, TREES, EAGER and FRAME_CHECK capabilities;
// resume_agreed(), trees_agreed(), eager_agreed() and frame_check_agreed()
// tell whether the server took them. With FRAME_CHECK agreed every frame
// sent carries its check block (docs/protocol.md section 3.1); since the
// client cannot know that before the server's hello, frames sent earlier
// wait for it.
//
// With a key (use_key()), connect_and_run() completes the TLS handshake
// before the session starts, so the hello and every request travel
// encrypted (docs/protocol.md section 10, docs/client.md "Keys").
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/net/compression.hpp"
#include "client/net/connection.hpp"
#include "common/rules/errors.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/frame.hpp"

namespace ft::client {

/// How long the server may stay silent while requests are in flight before
/// the connection counts as lost.
inline constexpr std::chrono::seconds kIdleTimeout{120};
/// How long connecting, the TLS handshake and the server's hello may take
/// together (the name lookup excluded): a port that accepts and stays
/// silent fails as fast as one that drops the connection attempt.
inline constexpr std::chrono::seconds kConnectTimeout{10};

/// Makes every later connect_and_run() of this process authenticate with
/// this client context (its PSK); null (the default) connects in the clear,
/// to an open server.
void use_key(std::shared_ptr<TlsContext> context);

/// The smallest --bwlimit: the pacing's burst (at least 16 KiB) then takes
/// 4 s to earn, far inside the server's idle timeout (60 s by default).
inline constexpr std::uint64_t kMinBandwidthLimit = 4 * 1024;

/// Paces every later session of this process to `rate` bytes per second
/// on the socket, in each direction separately (--bwlimit; 0: no limit).
/// The pacing spans sessions: a retry or the next connection of a tree
/// transfer goes on at the same rate instead of with a fresh burst.
void limit_bandwidth(std::uint64_t rate);

class Session;

/// The command's side of a session. Handlers are called from Session::run()
/// only, one at a time; produce() at least every 250 ms, even while the
/// server is silent (the progress line is redrawn from there).
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  /// Queues the frames the command can send now (requests, DATA as the
  /// backpressure allows). Called before every wait.
  virtual void produce(Session& session) = 0;
  /// A frame for one of the command's requests (request id != 0). A frame
  /// the command did not expect is a protocol error: call Session::fail().
  virtual void on_frame(Session& session, Frame& frame) = 0;
  /// True when every request got its final frame; run() then returns.
  virtual bool finished() const = 0;
  /// A descriptor whose readability should wake the session at once (a
  /// pipe the command reads from), or -1: without it a command producing
  /// from a slow pipe would wait up to 250 ms between reads.
  virtual int wake_fd() const { return -1; }
};

class Session {
 public:
  explicit Session(Connection connection);

  /// Makes run() fail with CONNECT_FAILED and `message` if the server's
  /// hello has not arrived by `deadline`.
  void expect_hello_by(std::chrono::steady_clock::time_point deadline, std::string message) {
    hello_deadline_ = deadline;
    hello_timeout_message_ = std::move(message);
  }

  /// Runs until the handler is finished (returns nullopt) or the connection
  /// fails (returns the connection-level error).
  std::optional<Error> run(SessionHandler& handler);

  Connection& connection() { return connection_; }
  const Connection& connection() const { return connection_; }
  /// True once the server's hello arrived.
  bool hello_received() const { return hello_received_; }
  /// True once the server's hello arrived carrying the RESUME capability
  /// (the client always offers it): section 5.4 of the protocol applies.
  bool resume_agreed() const { return resume_agreed_; }
  /// True once the server's hello arrived carrying TREES (section 5.5):
  /// MKDIR, SYMLINK and the LIST flags may be used.
  bool trees_agreed() const { return trees_agreed_; }
  bool eager_agreed() const { return eager_agreed_; }
  /// STREAM (section 5.14): a PUT may leave its size to its END.
  bool stream_agreed() const { return stream_agreed_; }
  /// PACED (section 5.17): a LIST may ask for its windows one at a time.
  bool paced_agreed() const { return paced_agreed_; }
  /// True once the server's hello arrived carrying DELETE (section 5.7).
  bool delete_agreed() const { return delete_agreed_; }
  /// True once the server's hello arrived carrying LINK (section 5.8).
  bool link_agreed() const { return link_agreed_; }
  /// DELTA_PUT (section 5.12): a PUT may ask for the older copy's signature.
  bool delta_put_agreed() const { return delta_put_agreed_; }
  /// DELTA_EARLY too: a DELTA PUT's signature follows its PUT_READY.
  bool delta_early_agreed() const { return delta_early_agreed_; }
  /// DELTA_GET (section 5.16): a GET may send the older copy's signature.
  bool delta_get_agreed() const { return delta_get_agreed_; }
  /// ARCHIVE, SPARSE and OWNERS (docs/protocol.md, section 5.9).
  bool archive_agreed() const { return archive_agreed_; }
  bool sparse_agreed() const { return sparse_agreed_; }
  bool owners_agreed() const { return owners_agreed_; }
  /// COMPRESS (section 5.15): offered with --compress (use_compression()).
  bool compress_agreed() const { return compress_agreed_; }
  /// The session's zstd contexts (compress_agreed() only).
  SessionCompression& compression() { return compression_; }
  /// The rules for names on this connection: any bytes with ARCHIVE.
  NameRules name_rules() const {
    return archive_agreed_ ? NameRules::kAnyBytes : NameRules::kPortable;
  }
  /// True once the server's hello arrived carrying FRAME_CHECK: every frame
  /// in both directions carries its check block.
  bool frame_check_agreed() const { return frame_check_agreed_; }
  /// Queues whole encoded frames of `request_id` (messages.hpp encoders),
  /// adding their check blocks when FRAME_CHECK is agreed; before the
  /// server's hello they wait for it.
  void send(Bytes frame, std::uint32_t request_id);
  /// Gives a received frame's payload buffer back to the decoder, so that
  /// later payloads reuse its memory (FrameDecoder::recycle).
  void recycle_payload(Bytes&& buffer) { decoder_.recycle(std::move(buffer)); }
  /// Queues a DATA frame as its head (encode_data_head) and its chunk; see
  /// Connection::queue_data. Only after the server's hello.
  void send_data(std::uint32_t request_id, Bytes head, Bytes chunk);
  /// Sends `chunk` as the DATA at `offset` of `request_id`: its XXH3-64,
  /// and with COMPRESS its zstd frame when that is worth sending (section
  /// 5.15; the hash stays the plain chunk's).
  void send_chunk(std::uint32_t request_id, std::uint64_t offset, Bytes chunk);
  /// The same with the chunk's XXH3-64 already computed (ftsend's
  /// read-ahead hashes on its own thread).
  void send_chunk(std::uint32_t request_id, std::uint64_t offset, Bytes chunk,
                  std::uint64_t chunk_hash);
  /// Queues the DATA frames whose chunks are being compressed (send_chunk()
  /// with COMPRESS returns before they are done), in the order they were
  /// sent, waiting for them: every other frame queued comes after these.
  /// With `only_done`, queues those that are ready without waiting (all
  /// before the first that is not), or the oldest, waiting for it, when
  /// nothing else is queued to be written: what run() does before poll().
  void finish_compressed_chunks(bool only_done = false);
  /// Bytes of the chunks handed to send_chunk() that are still being
  /// compressed (not yet in the connection's queued_chunk_bytes()).
  std::size_t compressing_chunk_bytes() const { return compressing_bytes_; }
  /// Ends the session with a connection-level error once the current
  /// handler call returns.
  void fail(ErrorCode code, std::string message);
  /// Shorthand for a protocol error caused by the server.
  void protocol_error(std::string message) { fail(ErrorCode::PROTOCOL, std::move(message)); }

 private:
  bool receive_and_dispatch(SessionHandler& handler);
  /// Sends what the queue holds, within --bwlimit; false on a write error.
  IoResult flush_paced();
  void dispatch(SessionHandler& handler);
  void end_of_stream(SessionHandler& handler);
  void drain_after_write_error(SessionHandler& handler, int err);
  void fail_channel();
  void take_hello();

  Connection connection_;
  FrameDecoder decoder_;
  bool hello_received_ = false;
  bool resume_agreed_ = false;
  bool trees_agreed_ = false;
  bool eager_agreed_ = false;
  bool stream_agreed_ = false;
  bool paced_agreed_ = false;
  bool delete_agreed_ = false;
  bool link_agreed_ = false;
  bool delta_put_agreed_ = false;
  bool delta_early_agreed_ = false;
  bool delta_get_agreed_ = false;
  bool archive_agreed_ = false;
  bool sparse_agreed_ = false;
  bool owners_agreed_ = false;
  bool compress_agreed_ = false;
  SessionCompression compression_;
  /// The DATA frames finish_compressed_chunks() queues, oldest first:
  /// request, offset, hash.
  struct CompressingChunk {
    std::uint32_t request_id;
    std::uint64_t offset;
    std::uint64_t chunk_hash;
    std::size_t size;  // of the plain chunk
  };
  std::deque<CompressingChunk> compressing_;
  std::size_t compressing_bytes_ = 0;
  void queue_oldest_compressed();
  bool frame_check_agreed_ = false;
  // Frames sent before the server's hello, and their request ids.
  std::vector<std::pair<Bytes, std::uint32_t>> before_hello_;
  std::optional<Error> failure_;
  std::optional<std::chrono::steady_clock::time_point> hello_deadline_;
  std::string hello_timeout_message_;
};

/// Connects to host:port (with the key of use_key(): and completes the TLS
/// handshake) and runs one session with `handler`. Returns the
/// connection-level failure: UNKNOWN_HOST (the name did not resolve: not
/// retried), CONNECT_FAILED ("cannot connect to ...", also when connecting,
/// the handshake and the server's hello took more than kConnectTimeout),
/// AUTH_FAILED (the key was refused, or the server does not speak TLS), the
/// code of a plaintext notice (SERVER_FULL, AUTH_REQUIRED), one from
/// Session::run(), or CANCELLED when interrupted while connecting. With a
/// server list for host:port (use_servers(), server_list.hpp) it tries them
/// in turn: on to the next at once when one cannot be reached, and after a
/// failed session the next call starts at the next.
std::optional<Error> connect_and_run(const std::string& host, std::uint16_t port,
                                     SessionHandler& handler);

}  // namespace ft::client
