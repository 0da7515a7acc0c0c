#pragma once
// The client's end of one TCP connection: a non-blocking socket connected
// with a deadline, a queue of owned outgoing frames written with sendmsg(),
// and receiving straight into a FrameDecoder's write area. No event loop:
// the Session polls fd() and calls flush() and receive().
//
// With a key (handshake() succeeded) the same interface carries TLS
// (docs/protocol.md section 10): the queue still holds plaintext frames,
// flush() encrypts them about 1 MiB at a time and only once the ciphertext
// before them is in the kernel (so drop_unsent() keeps working for frames
// not yet encrypted), a whole chunk per engine write, and receive()
// decrypts straight into the decoder's write area.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/crypto/tls_engine.hpp"
#include "common/os/fd.hpp"
#include "common/wire/frame.hpp"

namespace ft::client {

/// Outcome of one flush() or receive().
enum class IoResult {
  kProgress,    // some bytes moved
  kWouldBlock,  // nothing to do until poll() says so
  kClosed,      // receive(): the peer closed its side (end of stream)
  kError,       // see Connection::last_error()
};

/// How the TLS handshake of Connection::handshake() ended.
enum class HandshakeOutcome {
  kOpen,         // authenticated: frames may flow
  kRefused,      // the TLS engine failed (usually the server's alert: wrong key)
  kClosed,       // end of stream or reset before the handshake completed
  kNotTls,       // the server answered bytes that are neither TLS nor ft
  kPlaintext,    // the server answered 0x89: an ft plaintext notice (section 10.2)
  kTimedOut,     // the deadline passed
  kInterrupted,  // SIGINT or SIGTERM
  kError,        // a socket error other than a reset (see error)
};

struct HandshakeResult {
  HandshakeOutcome outcome = HandshakeOutcome::kError;
  /// kPlaintext: the notice's bytes (up to end of stream, at most 64 KiB).
  Bytes plaintext;
  /// kRefused: the engine's reason; kError: strerror().
  std::string detail;
};

/// Why Connection::open() failed.
struct OpenFailure {
  std::string why;          // "Connection refused", "timed out", the resolver's message
  bool unresolved = false;  // the host name did not resolve: a retry would not help
};

class Connection {
 public:
  /// Connects to host:port, trying each address getaddrinfo() gives (IPv6
  /// and IPv4) until one accepts, all before `deadline` (the name lookup
  /// excluded). On failure returns nullopt and fills `failure`.
  static std::optional<Connection> open(const std::string& host, std::uint16_t port,
                                        std::chrono::steady_clock::time_point deadline,
                                        OpenFailure& failure);
  /// Takes over `fd`, a connected non-blocking stream socket the caller
  /// made (one end of a socketpair() in the unit tests, which play the
  /// server in the same process); closed with the connection.
  static Connection adopt(Fd fd) { return Connection(std::move(fd)); }

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  int fd() const { return fd_.get(); }

  /// Runs the TLS 1.3 PSK handshake with `context` over the connected
  /// socket, before anything else is sent, within `deadline`. After kOpen
  /// every later byte is encrypted; after anything else the connection is
  /// unusable.
  HandshakeResult handshake(std::shared_ptr<TlsContext> context,
                            std::chrono::steady_clock::time_point deadline);
  bool secure() const { return tls_ != nullptr; }
  /// True when the TLS engine failed after the handshake (a record that did
  /// not authenticate, an alert from the server); tls_error() says why.
  bool tls_failed() const;
  std::string tls_error() const;
  /// True when decrypted bytes may wait inside the TLS engine: receive()
  /// has more to give without the socket becoming readable.
  bool has_buffered_input() const { return input_buffered_; }

  /// Queues a whole encoded frame (or the hello); `request_id` tags it for
  /// drop_unsent().
  void queue(Bytes bytes, std::uint32_t request_id = 0);
  /// Queues a DATA frame as its 28-byte head and the chunk it carries; both
  /// are written from where they lie, with no copy.
  void queue_data(std::uint32_t request_id, Bytes head, Bytes chunk);
  /// Forgets the frames of `request_id` not yet started on the wire.
  void drop_unsent(std::uint32_t request_id);
  bool has_output() const;
  /// Bytes of DATA chunks waiting in the queue (the upload backpressure).
  std::size_t queued_chunk_bytes() const { return queued_chunk_bytes_; }
  /// A chunk buffer whose frame was written, for reuse (empty if none).
  Bytes take_spare_buffer();

  /// No budget: as many bytes as the socket takes or gives.
  static constexpr std::size_t kNoBudget = static_cast<std::size_t>(-1);
  /// Writes as much of the queue as the socket accepts, at most `budget`
  /// bytes to the socket (--bwlimit's pacing; ciphertext with a key).
  IoResult flush(std::size_t budget = kNoBudget);
  /// Receives once into the decoder's write area and commits the bytes;
  /// at most `budget` bytes from the socket.
  IoResult receive(FrameDecoder& decoder, std::size_t budget = kNoBudget);
  /// Bytes written to and read from the socket so far (with a key: TLS
  /// records, which is what the link carries).
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  /// errno of the last kError.
  int last_error() const { return last_error_; }

 private:
  explicit Connection(Fd fd) : fd_(std::move(fd)) {}
  struct Outgoing {
    std::uint32_t request_id = 0;
    Bytes head;
    Bytes body;
    std::size_t sent = 0;  // bytes of head then body already written
    std::size_t size() const { return head.size() + body.size(); }
  };
  void close();
  IoResult flush_plain();
  IoResult flush_tls();
  IoResult receive_tls(FrameDecoder& decoder, std::size_t budget);
  /// Encrypts frames from the front of the queue (about a batch) into
  /// cipher_out_; false if the engine refuses (failed).
  bool encrypt_some();
  /// Sends what is unsent in cipher_out_; kWouldBlock when the socket is full.
  IoResult send_ciphertext();
  std::size_t cipher_unsent() const { return cipher_out_.size() - cipher_sent_; }
  /// Best effort: hands a pending alert to the socket before giving up.
  void send_alert_best_effort();
  void release_frame(Outgoing& out);

  Fd fd_;
  std::deque<Outgoing> queue_;
  std::size_t queued_chunk_bytes_ = 0;
  std::vector<Bytes> spare_;
  int last_error_ = 0;
  std::size_t send_budget_ = kNoBudget;  // what the current flush() may still write
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_received_ = 0;
  // TLS only (null on an open server).
  std::unique_ptr<TlsEngine> tls_;
  Bytes cipher_out_;  // encrypted, not yet (fully) sent
  std::size_t cipher_sent_ = 0;
  Bytes plain_batch_;  // small frames gathered into one record
  Bytes cipher_in_;    // recv() buffer fed to the engine
  bool input_buffered_ = false;
};

/// "host:port", with brackets around an IPv6 host.
std::string host_port_text(const std::string& host, std::uint16_t port);

}  // namespace ft::client
