#include "common/crypto/tls_engine.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/crypto/queue_bio.hpp"

namespace ft {

using tls_detail::ByteQueue;
using tls_detail::queue_method;

PskKey::~PskKey() {
  OPENSSL_cleanse(secret.data(), secret.size());
}

namespace {

// TLS_AES_128_GCM_SHA256; both allowed suites hash with SHA-256, so a PSK
// bound to this one serves either (RFC 8446 4.2.11).
constexpr unsigned char kPskCipherId[2] = {0x13, 0x01};
constexpr char kCipherSuites[] = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";
constexpr char kGroups[] = "X25519:P-256";

/// Identities are attacker-chosen bytes: show them printable and bounded.
std::string printable_identity(std::string_view id) {
  std::string out;
  for (std::size_t i = 0; i < id.size() && i < kMaxIdentityBytes; ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char digits[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  if (id.size() > kMaxIdentityBytes) out += "...";
  return out;
}

/// The external PSK as OpenSSL wants it: a TLS 1.3 session whose master key
/// is the secret. Null on allocation failure.
SSL_SESSION* psk_session(SSL* ssl, const std::array<std::uint8_t, kPskBytes>& secret) {
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kPskCipherId);
  if (cipher == nullptr) return nullptr;
  SSL_SESSION* session = SSL_SESSION_new();
  if (session == nullptr) return nullptr;
  if (!SSL_SESSION_set1_master_key(session, secret.data(), secret.size()) ||
      !SSL_SESSION_set_cipher(session, cipher) ||
      !SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION)) {
    SSL_SESSION_free(session);
    return nullptr;
  }
  return session;
}

// A certificate can only appear if the server ignored the PSK; the client
// has no way to trust one, so any certificate fails the handshake.
int refuse_certificate(int, X509_STORE_CTX*) {
  return 0;
}

}  // namespace

struct TlsContext::Impl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  PskLookup lookup;  // server
  PskKey key;        // client

  ~Impl() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
    OPENSSL_cleanse(key.secret.data(), key.secret.size());
  }
};

struct TlsEngine::Impl {
  TlsEngine* owner = nullptr;
  std::shared_ptr<TlsContext> context;
  SSL* ssl = nullptr;
  ByteQueue in;   // ciphertext from the peer
  ByteQueue out;  // ciphertext for the peer
  bool started = false;
  bool sent_close = false;
  bool received_close = false;
  bool saw_first_byte = false;
  bool unknown_identity = false;  // server: the client named no key we have
  std::string offered_identity;   // server: the last identity looked up

  ~Impl() {
    if (ssl != nullptr) SSL_free(ssl);  // frees both BIOs, not the queues
  }

  void fail(std::string why) {
    owner->state_ = State::kFailed;
    owner->error_ = std::move(why);
    ERR_clear_error();
  }

  /// Turns the thread's OpenSSL error queue into words, then clears it.
  void fail_from_openssl(bool handshaking);
  void drive_handshake();
};

namespace {

int find_psk_session(SSL* ssl, const unsigned char* identity, std::size_t identity_len,
                     SSL_SESSION** session) noexcept {
  *session = nullptr;
  try {
    auto* engine = static_cast<TlsEngine::Impl*>(SSL_get_app_data(ssl));
    if (engine == nullptr) return 0;
    std::string_view id(reinterpret_cast<const char*>(identity), identity_len);
    engine->offered_identity.assign(id.substr(0, kMaxIdentityBytes + 1));
    std::optional<PskKey> key;
    if (!id.empty() && id.size() <= kMaxIdentityBytes) {
      key = engine->context->impl().lookup(id);
    }
    engine->unknown_identity = !key;
    if (!key) {
      // A random key rather than no session: the binder then fails exactly
      // as for a known identity with a wrong key (same alert, same
      // moment), so the answer does not tell which identities exist.
      key.emplace();
      if (RAND_bytes(key->secret.data(), static_cast<int>(key->secret.size())) != 1) return 0;
    }
    *session = psk_session(ssl, key->secret);
    OPENSSL_cleanse(key->secret.data(), key->secret.size());
    return *session != nullptr ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int use_psk_session(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* id_len,
                    SSL_SESSION** session) noexcept {
  *session = nullptr;
  try {
    auto* engine = static_cast<TlsEngine::Impl*>(SSL_get_app_data(ssl));
    if (engine == nullptr) return 0;
    const PskKey& key = engine->context->impl().key;
    // After a HelloRetryRequest OpenSSL asks again with the chosen suite's
    // hash; both suites use SHA-256, but do not offer a PSK that cannot fit.
    if (md != nullptr && EVP_MD_get_size(md) != 32) return 1;
    SSL_SESSION* s = psk_session(ssl, key.secret);
    if (s == nullptr) return 0;
    *id = reinterpret_cast<const unsigned char*>(key.identity.data());
    *id_len = key.identity.size();
    *session = s;
    return 1;
  } catch (...) {
    return 0;
  }
}

SSL_CTX* new_policy_context(bool server, std::string& why) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) {
    why = "cannot create a TLS context";
    ERR_clear_error();
    return nullptr;
  }
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_ciphersuites(ctx, kCipherSuites) == 1 &&
            SSL_CTX_set1_groups_list(ctx, kGroups) == 1 && SSL_CTX_set_num_tickets(ctx, 0) == 1 &&
            SSL_CTX_set_max_early_data(ctx, 0) == 1 && SSL_CTX_set_recv_max_early_data(ctx, 0) == 1;
  if (!ok) {
    why = "TLS library refuses ft's policy (TLS 1.3, AES-128-GCM/ChaCha20, X25519/P-256)";
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  // No SSL_OP_ALLOW_NO_DHE_KEX: psk_dhe_ke is the only key exchange mode.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // The whole record stream is in memory: let OpenSSL take records in big
  // reads rather than header, then body. The write side needs no mode: the
  // output queue never refuses bytes, so SSL_write always completes.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                     server ? nullptr : refuse_certificate);
  if (server) {
    // A server holds up to --max-connections idle engines: their record
    // buffers (about 34 KiB each) go back while nothing waits in them.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_psk_find_session_callback(ctx, find_psk_session);
  } else {
    SSL_CTX_set_psk_use_session_callback(ctx, use_psk_session);
  }
  return ctx;
}

bool valid_wire_identity(const std::string& id) {
  return !id.empty() && id.size() <= kMaxIdentityBytes;
}

}  // namespace

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

std::shared_ptr<TlsContext> TlsContext::server(PskLookup lookup, std::string& why) {
  if (!lookup) {
    why = "no key lookup given";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->server = true;
  impl->lookup = std::move(lookup);
  impl->ctx = new_policy_context(true, why);
  if (impl->ctx == nullptr) return nullptr;
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

std::shared_ptr<TlsContext> TlsContext::client(PskKey key, std::string& why) {
  if (!valid_wire_identity(key.identity)) {
    why = "key identity must be 1 to " + std::to_string(kMaxIdentityBytes) + " bytes";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  impl->ctx = new_policy_context(false, why);
  if (impl->ctx == nullptr) return nullptr;
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

TlsEngine::TlsEngine(std::shared_ptr<TlsContext> context) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->context = std::move(context);
  const BIO_METHOD* method = queue_method();
  SSL* ssl = impl_->context ? SSL_new(impl_->context->impl().ctx) : nullptr;
  BIO* rbio = method != nullptr ? BIO_new(method) : nullptr;
  BIO* wbio = method != nullptr ? BIO_new(method) : nullptr;
  if (ssl == nullptr || rbio == nullptr || wbio == nullptr) {
    if (ssl != nullptr) SSL_free(ssl);
    if (rbio != nullptr) BIO_free(rbio);
    if (wbio != nullptr) BIO_free(wbio);
    impl_->fail(impl_->context ? "cannot create a TLS connection" : "no TLS context");
    return;
  }
  // A server holds many idle engines: ciphertext waits in its queues only
  // until SSL reads it or the session takes it, then their storage goes
  // back. A client (one engine) keeps it for the next records.
  const bool server = impl_->context->impl().server;
  impl_->in.release_when_drained = server;
  impl_->out.release_when_drained = server;
  BIO_set_data(rbio, &impl_->in);
  BIO_set_data(wbio, &impl_->out);
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_app_data(ssl, impl_.get());
  if (impl_->context->impl().server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  impl_->ssl = ssl;
}

TlsEngine::~TlsEngine() = default;

void TlsEngine::Impl::fail_from_openssl(bool handshaking) {
  // The first error is the cause; later ones are consequences.
  unsigned long code = ERR_peek_error();
  int reason = code != 0 ? ERR_GET_REASON(code) : 0;
  std::string detail;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    detail = text != nullptr ? text : "error " + std::to_string(reason);
  }
  std::string what;
  switch (reason) {
    case SSL_R_BINDER_DOES_NOT_VERIFY:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_MISSING_PSK_KEX_MODES_EXTENSION:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_BAD_PSK:
    case SSL_R_BAD_PSK_IDENTITY:
      what = "wrong key or unknown identity";
      break;
    case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
      // OpenSSL's server answers a binder that does not verify (a wrong
      // key) with illegal_parameter rather than decrypt_error.
      what = handshaking ? "wrong key or unknown identity" : "protocol error";
      break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      what = "peer does not support TLS 1.3";
      break;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
      what = "peer does not speak TLS";
      break;
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_SSLV3_ALERT_BAD_RECORD_MAC:
      what = handshaking ? "wrong key or record altered in transit"
                         : "record failed authentication (altered in transit)";
      break;
    default:
      what = handshaking ? "protocol error" : "protocol error on the encrypted channel";
      break;
  }
  // The server knows which of the two it was: say so, by name.
  if (handshaking && context->impl().server && !offered_identity.empty()) {
    if (unknown_identity) {
      what = "unknown identity '" + printable_identity(offered_identity) + "'";
      detail.clear();  // OpenSSL only noticed that no certificate exists
    } else if (reason == SSL_R_BINDER_DOES_NOT_VERIFY) {
      what = "wrong key for identity '" + printable_identity(offered_identity) + "'";
    }
  }
  std::string text = (handshaking ? "TLS handshake failed: " : "TLS error: ") + what;
  if (!detail.empty()) text += " (" + detail + ")";
  fail(std::move(text));
}

void TlsEngine::Impl::drive_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    // A completed handshake must have used the PSK: with no certificate
    // trusted this only guards against a future policy slip.
    if (!SSL_session_reused(ssl)) {
      fail("TLS handshake failed: the peer did not authenticate with the key");
      return;
    }
    owner->state_ = State::kOpen;
    if (context->impl().server) owner->identity_ = offered_identity;
    return;
  }
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return;
    default:
      fail_from_openssl(true);
      return;
  }
}

void TlsEngine::start() {
  Impl& d = *impl_;
  if (d.started || state_ != State::kHandshaking) return;
  d.started = true;
  if (!d.context->impl().server) d.drive_handshake();
}

bool TlsEngine::feed(ByteSpan ciphertext) {
  Impl& d = *impl_;
  if (state_ == State::kFailed) return false;
  if (ciphertext.empty()) return true;
  if (!d.saw_first_byte) {
    d.saw_first_byte = true;
    // A TLS stream starts with a handshake record (22), or an alert (21)
    // from a server refusing us. Anything else is not TLS: say so now
    // rather than wait for a record header's worth of bytes.
    std::uint8_t first = ciphertext[0];
    if (first != 22 && first != 21) {
      d.fail(first == 0x89 ? "peer does not speak TLS (it sent a plain ft hello)"
                           : "peer does not speak TLS");
      return false;
    }
  }
  if (d.received_close) return true;  // nothing after close_notify counts
  d.in.append(ciphertext.data(), ciphertext.size());
  if (state_ == State::kHandshaking) {
    d.started = true;
    d.drive_handshake();
  }
  return state_ != State::kFailed;
}

std::size_t TlsEngine::read(std::span<std::uint8_t> out) {
  Impl& d = *impl_;
  if (d.ssl == nullptr || d.received_close || out.empty()) return 0;
  if (state_ != State::kOpen && state_ != State::kClosed) return 0;
  std::size_t total = 0;
  while (total < out.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(d.ssl, out.data() + total, out.size() - total, &n);
    if (r == 1) {
      total += n;
      continue;
    }
    switch (SSL_get_error(d.ssl, r)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return total;
      case SSL_ERROR_ZERO_RETURN:
        d.received_close = true;
        state_ = State::kClosed;
        return total;
      default:
        d.fail_from_openssl(false);
        return total;
    }
  }
  return total;
}

bool TlsEngine::write(ByteSpan plaintext) {
  Impl& d = *impl_;
  if (state_ != State::kOpen || d.sent_close) return false;
  std::size_t done = 0;
  while (done < plaintext.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_write_ex(d.ssl, plaintext.data() + done, plaintext.size() - done, &n);
    if (r != 1) {
      // The output queue never refuses bytes, so any failure is fatal.
      d.fail_from_openssl(false);
      return false;
    }
    done += n;
  }
  return true;
}

std::size_t TlsEngine::pending() const {
  return impl_->out.size();
}

std::size_t TlsEngine::buffered() const {
  return impl_->in.size();
}

std::size_t TlsEngine::take_pending(Bytes& out, std::size_t limit) {
  ByteQueue& q = impl_->out;
  std::size_t n = std::min(q.size(), limit);
  if (n == 0) return 0;
  if (out.empty() && q.head == 0 && n == q.size()) {
    out.swap(q.data);
    // The queue gets out's storage, if any. A server's engine keeps nothing
    // large behind (it has many idle ones; reserve_output() sizes the
    // next buffer); a client's keeps it for the next records.
    q.data.clear();
    if (q.release_when_drained && q.data.capacity() > ByteQueue::kKeptCapacity) {
      Bytes().swap(q.data);
    }
    return n;
  }
  out.insert(out.end(), q.front(), q.front() + n);
  q.consume(n);
  return n;
}

void TlsEngine::reserve_output(std::size_t plaintext) {
  ByteQueue& q = impl_->out;
  if (q.size() != 0) return;
  q.data.clear();
  q.head = 0;
  q.data.reserve(records_size(plaintext));
}

ByteSpan TlsEngine::peek_pending() const {
  return ByteSpan(impl_->out.front(), impl_->out.size());
}

void TlsEngine::consume_pending(std::size_t n) {
  impl_->out.consume(std::min(n, impl_->out.size()));
}

void TlsEngine::close() {
  Impl& d = *impl_;
  if (d.sent_close || d.ssl == nullptr) return;
  if (state_ != State::kOpen && state_ != State::kClosed) return;
  d.sent_close = true;
  ERR_clear_error();
  SSL_shutdown(d.ssl);
  ERR_clear_error();
  state_ = State::kClosed;
}

std::string TlsEngine::cipher() const {
  if (impl_->ssl == nullptr || (state_ != State::kOpen && state_ != State::kClosed)) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(impl_->ssl);
  const char* name = c != nullptr ? SSL_CIPHER_standard_name(c) : nullptr;
  return name != nullptr ? name : "";
}

bool looks_like_tls(ByteSpan first_bytes) {
  if (first_bytes.empty() || first_bytes[0] != 22) return false;
  if (first_bytes.size() >= 2 && first_bytes[1] != 3) return false;
  if (first_bytes.size() >= 3 && first_bytes[2] > 4) return false;
  return true;
}

}  // namespace ft
