#pragma once
// TLS 1.3 with an external pre-shared key, sans-I/O: ciphertext goes in and
// out through memory BIOs, so the same engine serves ftserve's libuv loop,
// the poll()-based clients and the fuzzer. docs/protocol.md, section 10.
//
// Policy (fixed, not configurable): TLS 1.3 only; external PSK with
// psk_dhe_ke (ECDHE is always part of the key exchange, never plain
// psk_ke); no certificates; no 0-RTT; ciphersuites TLS_AES_128_GCM_SHA256
// and TLS_CHACHA20_POLY1305_SHA256. A handshake that cannot be completed
// with a known identity and its key fails.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/base/bytes.hpp"

namespace ft {

inline constexpr std::size_t kPskBytes = 32;  // 256-bit keys
inline constexpr std::size_t kMaxIdentityBytes = 64;

struct PskKey {
  std::string identity;  // opaque id sent in the clear in the ClientHello
  std::array<std::uint8_t, kPskBytes> secret{};

  PskKey() = default;
  PskKey(const PskKey&) = default;
  PskKey& operator=(const PskKey&) = default;
  /// Every copy wipes its secret when it goes (no key left in freed memory
  /// for a core dump or a later allocation to show).
  ~PskKey();
};

/// Server side: the key of `identity`, or nullopt for an unknown identity.
/// Called on the thread running the engine, during feed().
using PskLookup = std::function<std::optional<PskKey>(std::string_view identity)>;

/// An SSL_CTX with ft's policy. One context serves many engines.
class TlsContext {
 public:
  static std::shared_ptr<TlsContext> server(PskLookup lookup, std::string& why);
  static std::shared_ptr<TlsContext> client(PskKey key, std::string& why);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TlsEngine {
 public:
  enum class State { kHandshaking, kOpen, kClosed, kFailed };

  explicit TlsEngine(std::shared_ptr<TlsContext> context);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Client: queues the ClientHello (call once, first). Server: no-op.
  void start();
  /// Ciphertext received from the peer; drives the handshake. Returns false
  /// once the engine has failed (error() says why; an alert for the peer
  /// may be pending()).
  bool feed(ByteSpan ciphertext);
  /// Decrypted application bytes, up to out.size(); 0 when none is ready
  /// (feed more), or when the peer closed (state kClosed) or a record failed
  /// (state kFailed). Call it after every feed() until it returns 0: a feed
  /// that completes the handshake may carry application data too.
  std::size_t read(std::span<std::uint8_t> out);
  /// Encrypts `plaintext` whole into pending(). False if not open/failed.
  bool write(ByteSpan plaintext);
  /// Ciphertext waiting to be sent (handshake flights, records, alerts).
  /// Check it after start(), feed(), read(), write() and close(): read()
  /// can queue bytes too (a KeyUpdate answer), and a failed engine may hold
  /// an alert worth sending before closing the socket.
  std::size_t pending() const;
  /// Ciphertext fed and not yet taken in by the TLS library (what a reader
  /// that stopped calling read() leaves here), for the caller's accounting.
  std::size_t buffered() const;
  /// Moves up to `limit` bytes of pending ciphertext to the end of `out`.
  /// When `out` is empty and everything fits, the engine's buffer is swapped
  /// into `out` (no copy; hand the cleared vector back next time to reuse
  /// its capacity).
  std::size_t take_pending(Bytes& out, std::size_t limit = SIZE_MAX);
  /// The most ciphertext `plaintext` bytes of application data become
  /// (TLS 1.3 records of 16 KiB add 22 bytes each; a little spare).
  static std::size_t records_size(std::size_t plaintext) {
    return plaintext + plaintext / 512 + 64;
  }
  /// While nothing is pending, makes room for the records of `plaintext`
  /// bytes at once: a buffer grown record by record ends at the next power
  /// of two (2 MiB for a 1 MiB chunk) and is copied at each doubling.
  void reserve_output(std::size_t plaintext);
  /// Zero-copy draining for a caller that writes synchronously (send()):
  /// the pending ciphertext in place, valid until the next call on the
  /// engine; then consume_pending(bytes actually sent).
  ByteSpan peek_pending() const;
  void consume_pending(std::size_t n);
  /// Queues close_notify; write() is refused afterwards, read() still
  /// returns what the peer sends until its own close_notify. State kClosed.
  void close();
  /// The negotiated cipher suite ("TLS_AES_128_GCM_SHA256"), empty before.
  std::string cipher() const;

  State state() const { return state_; }
  bool open() const { return state_ == State::kOpen; }
  /// Server: the identity the client authenticated with (empty before).
  const std::string& peer_identity() const { return identity_; }
  /// Why the engine failed, in words for a log or a user ("wrong key or
  /// unknown identity (decrypt error alert)", ...).
  const std::string& error() const { return error_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  State state_ = State::kHandshaking;
  std::string identity_;
  std::string error_;
};

/// True if these first bytes from a peer start a TLS handshake record
/// (content type 22, version 3.x); the ft hello starts with 0x89.
bool looks_like_tls(ByteSpan first_bytes);

}  // namespace ft
