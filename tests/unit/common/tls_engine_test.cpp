// The TLS engine (common/tls_engine.cpp) against itself and against raw
// OpenSSL clients that break ft's policy: two engines wired back to back in
// memory, every byte moved by the test.
#include "common/crypto/tls_engine.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "common/wire/frame.hpp"
#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

constexpr char kIdentity[] = "5f0c1e7a9b2d4c68a1e3f5b7d9c0e2a4";

PskKey make_key(std::string identity, std::uint8_t fill) {
  PskKey key;
  key.identity = std::move(identity);
  for (std::size_t i = 0; i < key.secret.size(); ++i) {
    key.secret[i] = static_cast<std::uint8_t>(fill + i * 7);
  }
  return key;
}

std::shared_ptr<TlsContext> server_context(PskKey known = make_key(kIdentity, 1)) {
  std::string why;
  auto ctx = TlsContext::server(
      [known](std::string_view id) -> std::optional<PskKey> {
        if (id == known.identity) return known;
        return std::nullopt;
      },
      why);
  EXPECT_TRUE(ctx) << why;
  return ctx;
}

std::shared_ptr<TlsContext> client_context(PskKey key = make_key(kIdentity, 1)) {
  std::string why;
  auto ctx = TlsContext::client(std::move(key), why);
  EXPECT_TRUE(ctx) << why;
  return ctx;
}

Bytes drain(TlsEngine& engine) {
  Bytes out;
  engine.take_pending(out);
  return out;
}

/// Feeds `bytes` in pieces chosen by `chunker` (whole when null).
void feed_split(TlsEngine& engine, const Bytes& bytes, Chunker* chunker) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t n = chunker ? chunker->next(bytes.size() - at) : bytes.size() - at;
    if (!engine.feed(ByteSpan(bytes).subspan(at, n))) return;
    at += n;
  }
}

/// A client and a server engine wired back to back; `received_*` collects
/// the plaintext each side reads.
struct Link {
  std::shared_ptr<TlsContext> server_ctx;
  std::shared_ptr<TlsContext> client_ctx;
  TlsEngine server;
  TlsEngine client;
  Bytes received_by_server;
  Bytes received_by_client;
  Bytes client_to_server;  // every ciphertext byte the client sent
  Bytes server_to_client;  // and the server
  std::unique_ptr<Chunker> chunker;

  Link(std::shared_ptr<TlsContext> s, std::shared_ptr<TlsContext> c,
       std::optional<FeedPlan> plan = std::nullopt)
      : server_ctx(s), client_ctx(c), server(s), client(c) {
    if (plan) chunker = std::make_unique<Chunker>(*plan);
  }

  static void read_all(TlsEngine& engine, Bytes& sink) {
    std::uint8_t buffer[20000];
    while (std::size_t n = engine.read(buffer)) sink.insert(sink.end(), buffer, buffer + n);
  }

  /// Moves bytes both ways until neither side has anything to send.
  void pump() {
    for (int round = 0; round < 1000; ++round) {
      Bytes c2s = drain(client);
      Bytes s2c = drain(server);
      if (c2s.empty() && s2c.empty()) return;
      client_to_server.insert(client_to_server.end(), c2s.begin(), c2s.end());
      server_to_client.insert(server_to_client.end(), s2c.begin(), s2c.end());
      feed_split(server, c2s, chunker.get());
      read_all(server, received_by_server);
      feed_split(client, s2c, chunker.get());
      read_all(client, received_by_client);
    }
    FAIL() << "link never went quiet";
  }

  void handshake() {
    client.start();
    server.start();
    pump();
  }
};

TEST(TlsEngine, RightKeyOpensBothSidesAndMovesData) {
  Link link(server_context(), client_context());
  link.handshake();
  ASSERT_TRUE(link.client.open()) << link.client.error();
  ASSERT_TRUE(link.server.open()) << link.server.error();
  EXPECT_EQ(link.server.peer_identity(), kIdentity);
  EXPECT_TRUE(link.client.error().empty());
  const std::string cipher = link.server.cipher();
  EXPECT_TRUE(cipher == "TLS_AES_128_GCM_SHA256" || cipher == "TLS_CHACHA20_POLY1305_SHA256")
      << cipher;
  EXPECT_EQ(link.client.cipher(), cipher);

  for (std::size_t size : {std::size_t{1}, std::size_t{16 * 1024 + 1}, std::size_t{4 << 20}}) {
    Bytes up = pattern_bytes(size, static_cast<std::uint32_t>(size));
    Bytes down = pattern_bytes(size, static_cast<std::uint32_t>(size + 1));
    link.received_by_server.clear();
    link.received_by_client.clear();
    ASSERT_TRUE(link.client.write(up));
    ASSERT_TRUE(link.server.write(down));
    link.pump();
    EXPECT_TRUE(link.received_by_server == up) << size;
    EXPECT_TRUE(link.received_by_client == down) << size;
  }
  EXPECT_TRUE(link.client.open());
  EXPECT_TRUE(link.server.open());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, ServerSendsNoSessionTicket) {
  Link link(server_context(), client_context());
  link.client.start();
  link.server.feed(drain(link.client));  // ClientHello
  Bytes flight = drain(link.server);     // ServerHello .. Finished
  ASSERT_FALSE(flight.empty());
  link.client.feed(flight);
  ASSERT_TRUE(link.client.open()) << link.client.error();
  link.server.feed(drain(link.client));  // client Finished
  ASSERT_TRUE(link.server.open()) << link.server.error();
  // A NewSessionTicket would be queued right after the client's Finished.
  EXPECT_EQ(link.server.pending(), 0u);
  std::uint8_t buffer[64];
  EXPECT_EQ(link.server.read(buffer), 0u);
  EXPECT_EQ(link.server.pending(), 0u);
}

TEST(TlsEngine, ClientDataRidesWithItsFinished) {
  Link link(server_context(), client_context());
  link.client.start();
  link.server.feed(drain(link.client));
  link.client.feed(drain(link.server));
  ASSERT_TRUE(link.client.open());
  ASSERT_TRUE(link.client.write(pattern_bytes(300, 8)));  // Finished + data, one feed
  link.server.feed(drain(link.client));
  ASSERT_TRUE(link.server.open()) << link.server.error();
  Link::read_all(link.server, link.received_by_server);
  EXPECT_EQ(link.received_by_server, pattern_bytes(300, 8));
}

class TlsEngineSplit : public ::testing::TestWithParam<FeedPlan> {};

TEST_P(TlsEngineSplit, HandshakeAndDataSurviveAnySplit) {
  Link link(server_context(), client_context(), GetParam());
  link.handshake();
  ASSERT_TRUE(link.client.open()) << link.client.error();
  ASSERT_TRUE(link.server.open()) << link.server.error();
  Bytes up = pattern_bytes(40000, 3);
  ASSERT_TRUE(link.client.write(up));
  ASSERT_TRUE(link.server.write(ByteSpan(up).first(3)));
  link.pump();
  EXPECT_TRUE(link.received_by_server == up);
  EXPECT_TRUE(link.received_by_client == Bytes(up.begin(), up.begin() + 3));
}

std::vector<FeedPlan> split_plans() {
  std::vector<FeedPlan> plans;
  for (const FeedPlan& plan : all_feed_plans()) {
    if (plan.input == Input::kFeed) plans.push_back(plan);
  }
  return plans;
}

INSTANTIATE_TEST_SUITE_P(Plans, TlsEngineSplit, ::testing::ValuesIn(split_plans()),
                         [](const auto& info) { return plan_name(info.param); });

TEST(TlsEngine, WrongKeyFailsBothSides) {
  Link link(server_context(make_key(kIdentity, 1)), client_context(make_key(kIdentity, 2)));
  link.handshake();
  EXPECT_EQ(link.server.state(), TlsEngine::State::kFailed);
  EXPECT_EQ(link.client.state(), TlsEngine::State::kFailed);
  EXPECT_NE(link.server.error().find("key"), std::string::npos) << link.server.error();
  EXPECT_NE(link.client.error().find("key"), std::string::npos) << link.client.error();
  EXPECT_TRUE(link.server.peer_identity().empty());
  EXPECT_FALSE(link.client.write(pattern_bytes(10, 1)));
  EXPECT_EQ(ERR_peek_error(), 0u);  // nothing leaks into the next connection
}

TEST(TlsEngine, UnknownIdentityFails) {
  Link link(server_context(), client_context(make_key("someone-else", 1)));
  link.handshake();
  EXPECT_EQ(link.server.state(), TlsEngine::State::kFailed);
  EXPECT_EQ(link.client.state(), TlsEngine::State::kFailed);
  EXPECT_NE(link.server.error().find("unknown identity 'someone-else'"), std::string::npos)
      << link.server.error();
  EXPECT_NE(link.client.error().find("key"), std::string::npos) << link.client.error();
  EXPECT_TRUE(link.server.peer_identity().empty());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, UnknownIdentityAndWrongKeyLookTheSameOnTheWire) {
  // An identity oracle otherwise: a peer could probe which ids exist.
  Link wrong_key(server_context(make_key(kIdentity, 1)), client_context(make_key(kIdentity, 2)));
  wrong_key.handshake();
  Link unknown(server_context(), client_context(make_key("someone-else", 1)));
  unknown.handshake();
  ASSERT_EQ(wrong_key.server.state(), TlsEngine::State::kFailed);
  ASSERT_EQ(unknown.server.state(), TlsEngine::State::kFailed);
  ASSERT_FALSE(wrong_key.server_to_client.empty()) << "the server sends an alert";
  EXPECT_EQ(unknown.server_to_client, wrong_key.server_to_client)
      << "the alert an unknown identity gets must be the wrong key's";
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, ThrowingLookupFailsTheHandshake) {
  std::string why;
  auto server = TlsContext::server(
      [](std::string_view) -> std::optional<PskKey> { throw std::runtime_error("boom"); }, why);
  ASSERT_TRUE(server);
  Link link(server, client_context());
  link.handshake();
  EXPECT_EQ(link.server.state(), TlsEngine::State::kFailed);
  EXPECT_EQ(link.client.state(), TlsEngine::State::kFailed);
}

TEST(TlsEngine, ClientRefusesBadIdentity) {
  std::string why;
  EXPECT_FALSE(TlsContext::client(make_key("", 1), why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(TlsContext::client(make_key(std::string(kMaxIdentityBytes + 1, 'a'), 1), why));
  EXPECT_TRUE(TlsContext::client(make_key(std::string(kMaxIdentityBytes, 'a'), 1), why));
}

TEST(TlsEngine, FlippedCiphertextBitFailsTheRead) {
  Link link(server_context(), client_context());
  link.handshake();
  ASSERT_TRUE(link.server.open());
  ASSERT_TRUE(link.client.write(pattern_bytes(1000, 9)));
  Bytes record = drain(link.client);
  ASSERT_GT(record.size(), 1000u);
  record[record.size() / 2] ^= 0x10;
  link.server.feed(record);
  std::uint8_t buffer[2000];
  EXPECT_EQ(link.server.read(buffer), 0u);
  EXPECT_EQ(link.server.state(), TlsEngine::State::kFailed);
  EXPECT_NE(link.server.error().find("authentication"), std::string::npos) << link.server.error();
  EXPECT_GT(link.server.pending(), 0u);                  // the alert for the client
  EXPECT_FALSE(link.server.feed(pattern_bytes(10, 1)));  // sticky
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, ReplayedClientFlightFails) {
  Bytes captured;
  {
    Link first(server_context(), client_context());
    first.handshake();
    ASSERT_TRUE(first.server.open());
    captured = first.client_to_server;  // ClientHello, then the client Finished
  }
  TlsEngine server(server_context());
  server.feed(captured);
  Bytes junk(100);
  while (server.read(junk) > 0) {
  }
  EXPECT_FALSE(server.open());
  EXPECT_EQ(server.state(), TlsEngine::State::kFailed) << server.error();
  EXPECT_TRUE(server.peer_identity().empty());
}

TEST(TlsEngine, PlainFtHelloIsNotTls) {
  Bytes hello;
  encode_hello(hello, Hello{});
  TlsEngine server(server_context());
  EXPECT_FALSE(server.feed(ByteSpan(hello).first(1)));  // the first byte is enough
  EXPECT_EQ(server.state(), TlsEngine::State::kFailed);
  EXPECT_NE(server.error().find("does not speak TLS"), std::string::npos) << server.error();
  EXPECT_FALSE(looks_like_tls(hello));
}

TEST(TlsEngine, HttpRequestIsNotTls) {
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  Bytes bytes(request.begin(), request.end());
  TlsEngine server(server_context());
  EXPECT_FALSE(server.feed(bytes));
  EXPECT_NE(server.error().find("does not speak TLS"), std::string::npos) << server.error();
}

TEST(TlsEngine, ClientFedAPlainNoticeFails) {
  Bytes hello;
  encode_hello(hello, Hello{});
  TlsEngine client(client_context());
  client.start();
  EXPECT_GT(client.pending(), 0u);
  EXPECT_FALSE(client.feed(hello));
  EXPECT_NE(client.error().find("does not speak TLS"), std::string::npos);
}

TEST(TlsEngine, LooksLikeTls) {
  Link link(server_context(), client_context());
  link.client.start();
  Bytes client_hello = drain(link.client);
  EXPECT_TRUE(looks_like_tls(client_hello));
  EXPECT_TRUE(looks_like_tls(ByteSpan(client_hello).first(1)));
  EXPECT_FALSE(looks_like_tls({}));
  const std::uint8_t alert[] = {21, 3, 3};
  EXPECT_FALSE(looks_like_tls(alert));
  const std::uint8_t bad_version[] = {22, 9, 1};
  EXPECT_FALSE(looks_like_tls(bad_version));
}

TEST(TlsEngine, CloseNotifyClosesThePeer) {
  Link link(server_context(), client_context());
  link.handshake();
  ASSERT_TRUE(link.client.write(pattern_bytes(5, 5)));
  link.client.close();
  EXPECT_EQ(link.client.state(), TlsEngine::State::kClosed);
  EXPECT_FALSE(link.client.write(pattern_bytes(5, 5)));
  link.pump();
  EXPECT_EQ(link.received_by_server, pattern_bytes(5, 5));
  EXPECT_EQ(link.server.state(), TlsEngine::State::kClosed);
  EXPECT_TRUE(link.server.error().empty());
  // The server may still answer before it closes too (half close).
  ASSERT_FALSE(link.server.write(pattern_bytes(3, 3)));
}

TEST(TlsEngine, PendingCanBeDrainedInPiecesOrInPlace) {
  Link link(server_context(), client_context());
  link.handshake();
  Bytes up = pattern_bytes(100000, 4);
  ASSERT_TRUE(link.client.write(up));
  const std::size_t total = link.client.pending();
  Bytes ciphertext;
  EXPECT_EQ(link.client.take_pending(ciphertext, 7), 7u);
  EXPECT_EQ(link.client.pending(), total - 7);
  ByteSpan view = link.client.peek_pending();
  ASSERT_EQ(view.size(), total - 7);
  ciphertext.insert(ciphertext.end(), view.begin(), view.begin() + 1000);
  link.client.consume_pending(1000);
  EXPECT_EQ(link.client.take_pending(ciphertext), total - 1007);
  EXPECT_EQ(link.client.pending(), 0u);
  EXPECT_TRUE(link.client.peek_pending().empty());
  link.server.feed(ciphertext);
  Link::read_all(link.server, link.received_by_server);
  EXPECT_TRUE(link.received_by_server == up);
}

// ---- Raw OpenSSL clients that break the policy ----------------------------

/// What a raw OpenSSL client sends first (its ClientHello record).
Bytes raw_client_hello(SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  EXPECT_LE(SSL_do_handshake(ssl), 0);
  char* data = nullptr;
  long n = BIO_get_mem_data(wbio, &data);
  Bytes out(data, data + n);
  SSL_free(ssl);
  ERR_clear_error();
  return out;
}

PskKey g_raw_key;

int raw_use_session(SSL* ssl, const EVP_MD*, const unsigned char** id, std::size_t* idlen,
                    SSL_SESSION** sess) {
  const unsigned char suite[2] = {0x13, 0x01};
  SSL_SESSION* s = SSL_SESSION_new();
  SSL_SESSION_set1_master_key(s, g_raw_key.secret.data(), g_raw_key.secret.size());
  SSL_SESSION_set_cipher(s, SSL_CIPHER_find(ssl, suite));
  SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
  *id = reinterpret_cast<const unsigned char*>(g_raw_key.identity.data());
  *idlen = g_raw_key.identity.size();
  *sess = s;
  return 1;
}

unsigned int raw_tls12_psk(SSL*, const char*, char* identity, unsigned int max_identity,
                           unsigned char* psk, unsigned int max_psk) {
  if (max_identity <= g_raw_key.identity.size() || max_psk < kPskBytes) return 0;
  std::memcpy(identity, g_raw_key.identity.c_str(), g_raw_key.identity.size() + 1);
  std::memcpy(psk, g_raw_key.secret.data(), kPskBytes);
  return kPskBytes;
}

/// Feeds a ClientHello to a fresh server and then plays the rest of the
/// handshake with nothing (the raw client is gone): the server must fail or
/// at least never open.
void expect_refused(const Bytes& client_hello, const std::string& error_part) {
  TlsEngine server(server_context());
  server.feed(client_hello);
  EXPECT_EQ(server.state(), TlsEngine::State::kFailed);
  EXPECT_NE(server.error().find(error_part), std::string::npos) << server.error();
  EXPECT_GT(server.pending(), 0u);  // the alert
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, Tls12ClientHelloIsRefused) {
  g_raw_key = make_key(kIdentity, 1);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, "PSK-AES128-GCM-SHA256:ECDHE-PSK-AES128-CBC-SHA256");
  SSL_CTX_set_psk_client_callback(ctx, raw_tls12_psk);
  Bytes hello = raw_client_hello(ctx);
  SSL_CTX_free(ctx);
  ASSERT_TRUE(looks_like_tls(hello));
  expect_refused(hello, "TLS 1.3");
}

// RFC 8446 7.1 and 4.2.11.2, so that the test can re-sign a ClientHello it
// has edited: the binder is an HMAC over the hello up to the binders.
Bytes hmac_sha256(ByteSpan key, ByteSpan data) {
  Bytes out(32);
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(),
       &n);
  return out;
}

Bytes expand_label(ByteSpan secret, const std::string& label, ByteSpan context) {
  const std::string full = "tls13 " + label;
  Bytes info;
  ByteWriter w(info);
  w.u16(32);
  w.u8(static_cast<std::uint8_t>(full.size()));
  w.raw(ByteSpan(reinterpret_cast<const std::uint8_t*>(full.data()), full.size()));
  w.u8(static_cast<std::uint8_t>(context.size()));
  w.raw(context);
  w.u8(1);  // one HKDF-Expand block is enough for 32 bytes
  return hmac_sha256(secret, info);
}

Bytes sha256(ByteSpan data) {
  Bytes out(32);
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

/// Recomputes the (single) PSK binder at the end of a ClientHello record.
void resign_binder(Bytes& record, const PskKey& key) {
  const std::size_t binders = 2 + 1 + 32;
  ASSERT_GT(record.size(), 5 + binders);
  const Bytes zeros(32, 0);
  Bytes early = hmac_sha256(zeros, key.secret);
  Bytes binder_key = expand_label(early, "ext binder", sha256({}));
  Bytes finished_key = expand_label(binder_key, "finished", {});
  ByteSpan truncated = ByteSpan(record).subspan(5, record.size() - 5 - binders);
  Bytes binder = hmac_sha256(finished_key, sha256(truncated));
  std::copy(binder.begin(), binder.end(), record.end() - 32);
}

TEST(TlsEngine, PskKeOnlyClientHelloIsRefused) {
  g_raw_key = make_key(kIdentity, 1);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);  // offers psk_dhe_ke and psk_ke
  SSL_CTX_set_psk_use_session_callback(ctx, raw_use_session);
  Bytes hello = raw_client_hello(ctx);
  SSL_CTX_free(ctx);

  // The re-signing is right: an unedited hello keeps its binder.
  Bytes resigned = hello;
  resign_binder(resigned, g_raw_key);
  ASSERT_TRUE(resigned == hello);

  // psk_key_exchange_modes (0x002d): length 3, list of 2 modes. Make both
  // of them psk_ke (0), then sign the hello again with the right key.
  const std::uint8_t modes[] = {0x00, 0x2d, 0x00, 0x03, 0x02};
  auto at = std::search(hello.begin(), hello.end(), std::begin(modes), std::end(modes));
  ASSERT_NE(at, hello.end());
  at[5] = 0;
  at[6] = 0;
  resign_binder(hello, g_raw_key);

  TlsEngine server(server_context());
  server.feed(hello);
  EXPECT_FALSE(server.open());
  EXPECT_EQ(server.state(), TlsEngine::State::kFailed) << server.error();
  EXPECT_TRUE(server.peer_identity().empty());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsEngine, RawTls13PskClientWithDheIsAccepted) {
  // The same raw client, unedited, gets past the ClientHello: the refusal
  // above is about psk_ke, not about the raw client.
  g_raw_key = make_key(kIdentity, 1);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_psk_use_session_callback(ctx, raw_use_session);
  Bytes hello = raw_client_hello(ctx);
  SSL_CTX_free(ctx);
  TlsEngine server(server_context());
  EXPECT_TRUE(server.feed(hello)) << server.error();
  EXPECT_GT(server.pending(), 0u);
}

}  // namespace
}  // namespace ft::test
