#pragma once
// A minimal blocking protocol client over TLS 1.3 with a pre-shared key,
// for tests that must send requests the real clients never send (MKDIR of
// "", SYMLINK with a chosen target) as a given identity of a --keys server.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/crypto/tls_engine.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::testing {

/// One TLS connection to 127.0.0.1:PORT authenticated with a client key
/// file's text (what `ftserve keys add` prints), speaking frames by hand.
class TlsRawClient {
 public:
  TlsRawClient(int port, const std::string& client_key_text);
  ~TlsRawClient();
  TlsRawClient(const TlsRawClient&) = delete;
  TlsRawClient& operator=(const TlsRawClient&) = delete;
  /// Completes the TLS handshake; false (error() says why) on failure.
  bool handshake(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Sends `plaintext` as TLS records; false if the connection failed.
  bool send(const Bytes& plaintext);
  bool send_hello(std::uint32_t capabilities);
  bool read_hello(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// The next frame, or nullopt on close, decode error or deadline.
  std::optional<Frame> read_frame(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// The next connection-level ERROR (request id 0), passing over the hello
  /// and other frames; nullopt on close or deadline.
  std::optional<ErrorMsg> read_connection_error(
      std::chrono::milliseconds deadline = std::chrono::seconds(10));
  const std::string& error() const { return error_; }

 private:
  // Reads ciphertext once (up to `deadline`) and feeds it; false at the end
  // of the stream, on failure or at the deadline.
  bool pump(std::chrono::steady_clock::time_point until);
  bool flush();
  DecodeStatus next(std::chrono::milliseconds deadline);

  int fd_ = -1;
  std::unique_ptr<TlsEngine> tls_;
  FrameDecoder decoder_{FrameDecoder::Options{.sender = Sender::kServer}};
  std::string error_;
};

}  // namespace ft::testing
