// libFuzzer target: the TLS handshake state machine (common/crypto/tls_engine.cpp).
// The input, cut into pieces, is what a peer sends: first to a server engine
// (which knows one identity and its key), then, from a cut point on, to a
// client engine that has sent its ClientHello. Besides crashes, leaks and
// UB, it traps when an invariant breaks: an engine opens (no input can
// complete a handshake against fresh key shares), a failure is not sticky,
// or an OpenSSL error is left in the thread's queue for the next connection.
//
// Input: byte 0 = control (bits 0-1: server split, bits 2-3: client split;
// 0 whole, 1 byte by byte, 2-3 random), byte 1 = where the client's part
// starts (n/256 of the rest), then the bytes.
//
// Seeds: FT_FUZZ_WRITE_SEEDS=DIR ./fuzz_tls_handshake -runs=0 writes the seed
// corpus (a real ClientHello with a PSK for the fuzzer's identity, its
// truncations, a whole client flight, a server flight, a TLS 1.2
// ClientHello, a plain ft hello, an HTTP request) into DIR.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common/crypto/tls_engine.hpp"
#include "common/wire/frame.hpp"

namespace {

using namespace ft;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

PskKey fuzz_key() {
  PskKey key;
  key.identity = "5f0c1e7a9b2d4c68a1e3f5b7d9c0e2a4";
  for (std::size_t i = 0; i < key.secret.size(); ++i) key.secret[i] = std::uint8_t(i * 13 + 5);
  return key;
}

std::shared_ptr<TlsContext> server_context() {
  static std::shared_ptr<TlsContext> context = [] {
    std::string why;
    auto ctx = TlsContext::server(
        [](std::string_view id) -> std::optional<PskKey> {
          static const PskKey key = fuzz_key();
          if (id == key.identity) return key;
          if (id == "throw") throw std::runtime_error("lookup failed");
          return std::nullopt;
        },
        why);
    check(ctx != nullptr);
    return ctx;
  }();
  return context;
}

std::shared_ptr<TlsContext> client_context() {
  static std::shared_ptr<TlsContext> context = [] {
    std::string why;
    auto ctx = TlsContext::client(fuzz_key(), why);
    check(ctx != nullptr);
    return ctx;
  }();
  return context;
}

/// Piece lengths: whole, byte by byte, or pseudo-random from a seed.
class Splitter {
 public:
  Splitter(unsigned mode, std::uint32_t seed) : mode_(mode), state_(seed | 1) {}
  std::size_t next(std::size_t remaining) {
    if (mode_ == 0) return remaining;
    if (mode_ == 1) return 1;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    std::size_t n = 1 + state_ % (state_ & 0x100 ? 700 : 9);
    return n < remaining ? n : remaining;
  }

 private:
  unsigned mode_;
  std::uint32_t state_;
};

/// Drains what the engine wants to send, through every draining path.
void drain(TlsEngine& engine, unsigned round) {
  Bytes out;
  switch (round % 3) {
    case 0:
      engine.take_pending(out);
      break;
    case 1:
      while (engine.take_pending(out, 5) > 0) {
      }
      break;
    default: {
      ByteSpan view = engine.peek_pending();
      check(view.size() == engine.pending());
      engine.consume_pending(view.size() / 2 + 1);
      engine.take_pending(out);
    }
  }
  check(engine.pending() == 0);
}

void run(TlsEngine& engine, ByteSpan input, Splitter splitter) {
  std::uint8_t plain[4096];
  std::size_t pos = 0;
  unsigned round = 0;
  while (pos < input.size()) {
    std::size_t n = splitter.next(input.size() - pos);
    bool ok = engine.feed(input.subspan(pos, n));
    pos += n;
    check(ok == (engine.state() != TlsEngine::State::kFailed));
    check(!engine.open());
    check(engine.read(plain) == 0);
    check(!engine.write(ByteSpan(plain, 16)));
    drain(engine, round++);
    check(ERR_peek_error() == 0);
    if (!ok) {
      check(!engine.error().empty());
      check(!engine.feed(input.subspan(pos - n, n)));  // sticky
      check(engine.state() == TlsEngine::State::kFailed);
      break;
    }
  }
  engine.close();
  check(engine.peer_identity().empty());
  check(ERR_peek_error() == 0);
}

void write_file(const std::string& dir, const std::string& name, const Bytes& body,
                std::uint8_t control = 0, std::uint8_t cut = 0) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.put(static_cast<char>(control));
  out.put(static_cast<char>(cut));
  out.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
}

Bytes tls12_client_hello() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);
  char* data = nullptr;
  long n = BIO_get_mem_data(wbio, &data);
  Bytes out(data, data + n);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return out;
}

void write_seeds(const std::string& dir) {
  TlsEngine client(client_context());
  TlsEngine server(server_context());
  client.start();
  Bytes client_hello;
  client.take_pending(client_hello);
  server.feed(client_hello);
  Bytes server_flight;
  server.take_pending(server_flight);
  client.feed(server_flight);
  Bytes client_finished;
  client.take_pending(client_finished);
  check(client.open());

  write_file(dir, "client_hello", client_hello);
  write_file(dir, "client_hello_bytes", client_hello, 1);
  write_file(dir, "client_hello_random", client_hello, 2 | 8);
  write_file(dir, "client_hello_header", Bytes(client_hello.begin(), client_hello.begin() + 5));
  write_file(dir, "client_hello_half",
             Bytes(client_hello.begin(), client_hello.begin() + client_hello.size() / 2));
  write_file(dir, "client_hello_minus_one", Bytes(client_hello.begin(), client_hello.end() - 1));
  Bytes flight = client_hello;
  flight.insert(flight.end(), client_finished.begin(), client_finished.end());
  write_file(dir, "client_flight", flight, 2);
  // The whole of it to the client engine (cut 0): a server flight for the
  // wrong ClientHello.
  write_file(dir, "server_flight", server_flight, 4);
  Bytes mixed = client_hello;
  mixed.insert(mixed.end(), server_flight.begin(), server_flight.end());
  write_file(dir, "hello_then_server_flight", mixed, 0,
             static_cast<std::uint8_t>(client_hello.size() * 256 / mixed.size()));
  write_file(dir, "tls12_client_hello", tls12_client_hello());
  Bytes hello;
  encode_hello(hello, Hello{});
  write_file(dir, "plain_ft_hello", hello);
  std::string http = "GET / HTTP/1.1\r\nHost: ft\r\n\r\n";
  write_file(dir, "http_request", Bytes(http.begin(), http.end()));
  write_file(dir, "alert", Bytes{21, 3, 3, 0, 2, 2, 40});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FT_FUZZ_WRITE_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t control = data[0];
  const ByteSpan body(data + 2, size - 2);
  const std::uint32_t seed = static_cast<std::uint32_t>(size) * 2654435761u + control;
  {
    TlsEngine server(server_context());
    server.start();
    run(server, body, Splitter(control & 3, seed));
  }
  {
    TlsEngine client(client_context());
    client.start();
    check(client.pending() > 0);
    Bytes hello;
    client.take_pending(hello);
    run(client, body.subspan(body.size() * data[1] / 256), Splitter((control >> 2) & 3, ~seed));
  }
  return 0;
}
