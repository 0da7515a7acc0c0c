#pragma once
// A minimal blocking protocol client for tests that need to speak to
// ftserve frame by frame (hostile or half-finished clients, connection
// limits).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/crypto/tls_engine.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::testing {

/// How a RawClient connects, beyond the server's port.
struct RawClientOptions {
  /// The local address to bind before connecting (a loopback address such as
  /// "127.0.0.2", for limits counted per client address); empty: the
  /// kernel's choice.
  std::string source_address;
  /// TCP_NODELAY from the start: every send leaves at once, however small.
  bool no_delay = false;
  /// With a client context (a key for ftserve --keys), the connection runs
  /// the TLS handshake first and every byte after it goes through TLS: the
  /// methods below then speak of plaintext (the protocol), as over a plain
  /// connection. `send_byte_by_byte` sends one record per byte.
  std::shared_ptr<TlsContext> tls;
};

/// Options for a client of a --keys server authenticated by a client key's
/// text (what `ftserve keys add` prints). A key that does not parse is a
/// test failure, and the options then connect in the clear (and fail).
RawClientOptions keyed(const std::string& client_key_text);

/// One TCP connection to 127.0.0.1:PORT that speaks the protocol by hand,
/// in the clear or through TLS (RawClientOptions::tls).
class RawClient {
 public:
  explicit RawClient(int port, const RawClientOptions& options = {});
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  /// False when the source address could not be bound, the connection was
  /// refused or the TLS handshake failed (and after close()).
  bool connected() const { return fd_ >= 0; }
  /// Closes the connection from this side now.
  void close();
  /// Sends all of `bytes`; false if the connection failed first (the server
  /// may have closed it: tests check replies).
  bool send(const Bytes& bytes);
  bool send_hello(std::uint32_t capabilities = 0);
  /// Sends as much of `bytes` as the socket takes within `patience` (about
  /// a second by default; 0: what it takes at once), without waiting for the
  /// peer to read the rest. Returns how many bytes went.
  std::size_t send_nonblocking(const Bytes& bytes,
                               std::chrono::milliseconds patience = std::chrono::seconds(1));
  /// Reads until the next hello or frame from the server was decoded (its
  /// status) or there was a decode error; kNeedMore at the deadline or at
  /// the end of the stream.
  DecodeStatus next(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Reads until the server hello was decoded (true) or deadline/close.
  bool read_hello(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// The next frame, or nullopt on close, decode error or deadline.
  std::optional<Frame> read_frame(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// The next connection-level ERROR (request id 0), passing over the
  /// server's hello and other frames; nullopt on close, decode error or
  /// deadline.
  std::optional<ErrorMsg> read_connection_error(
      std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// True if the server closed the connection (EOF or a socket error such as
  /// a reset) before the deadline.
  bool closed_by_peer(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  const Hello& server_hello() const { return decoder_.hello(); }
  /// Every byte the server sends until it closes the connection (EOF or
  /// reset), or nullopt if it is still open at the deadline. For a peer that
  /// must be closed without an answer. Bytes already pulled into the decoder
  /// by read_hello/read_frame are not included.
  std::optional<Bytes> bytes_until_closed(
      std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Sends `bytes` one byte per segment (TCP_NODELAY), so the server sees
  /// the stream arrive in the smallest pieces.
  void send_byte_by_byte(const Bytes& bytes);
  /// Half-closes the connection (no more bytes from us): the end of stream
  /// the server sees.
  void shutdown_write();

 private:
  /// Writes bytes to the socket as they are (ciphertext under TLS).
  bool send_wire(const Bytes& bytes);
  /// Under TLS: the engine's pending ciphertext to the socket.
  bool flush_tls();
  /// Receives once (within `wait_ms`) into the decoder, through TLS when
  /// on; false at the end of the stream or on a socket error.
  bool receive(int wait_ms);
  bool handshake();

  int fd_ = -1;
  std::unique_ptr<TlsEngine> tls_;
  FrameDecoder decoder_{FrameDecoder::Options{.sender = Sender::kServer}};
  bool eof_ = false;
};

}  // namespace ft::testing
