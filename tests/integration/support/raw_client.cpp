#include "raw_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/crypto/keys.hpp"

namespace ft::testing {

RawClientOptions keyed(const std::string& client_key_text) {
  RawClientOptions options;
  std::string why;
  std::optional<PskKey> key = parse_client_key(client_key_text, why);
  if (key) options.tls = TlsContext::client(*key, why);
  if (!options.tls) ADD_FAILURE() << "not a usable client key: " << why;
  return options;
}

RawClient::RawClient(int port, const RawClientOptions& options) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  if (!options.source_address.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, options.source_address.c_str(), &local.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      close();
      return;
    }
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close();
    return;
  }
  if (options.no_delay) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (options.tls) {
    tls_ = std::make_unique<TlsEngine>(options.tls);
    if (!handshake()) close();
  }
}

bool RawClient::handshake() {
  tls_->start();
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::uint8_t buffer[16384];
  while (flush_tls() && tls_->state() == TlsEngine::State::kHandshaking) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    // Plaintext that rides with the server's last flight stays in the
    // engine until receive() reads it.
    tls_->feed(ByteSpan(buffer, static_cast<std::size_t>(n)));
  }
  return tls_->open();
}

bool RawClient::flush_tls() {
  if (tls_->pending() == 0) return true;
  Bytes wire;
  tls_->take_pending(wire);
  return send_wire(wire);
}

RawClient::~RawClient() {
  close();
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawClient::send(const Bytes& bytes) {
  if (tls_) return tls_->write(bytes) && flush_tls();
  return send_wire(bytes);
}

bool RawClient::send_wire(const Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t RawClient::send_nonblocking(const Bytes& plain, std::chrono::milliseconds patience) {
  // Under TLS the ciphertext goes out; what the socket took is counted in
  // its bytes (a partial record is the peer's to wait for).
  Bytes bytes = plain;
  if (tls_) {
    bytes.clear();
    if (!tls_->write(plain)) return 0;
    tls_->take_pending(bytes);
  }
  std::size_t done = 0;
  // Polls of 50 ms (none with no patience); gives up after `patience` of
  // them made no progress.
  const int poll_ms = patience.count() > 0 ? 50 : 0;
  const long max_idle = std::max<long>(1, static_cast<long>(patience.count() / 50));
  for (long idle = 0; done < bytes.size() && idle < max_idle;) {
    struct pollfd p = {fd_, POLLOUT, 0};
    if (::poll(&p, 1, poll_ms) <= 0) {
      ++idle;
      continue;
    }
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) {
      ++idle;
      continue;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

bool RawClient::send_hello(std::uint32_t capabilities) {
  Bytes out;
  encode_hello(out, Hello{kProtocolVersion, kProtocolVersion, capabilities});
  return send(out);
}

DecodeStatus RawClient::next(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    DecodeStatus status = decoder_.next();
    if (status != DecodeStatus::kNeedMore) return status;
    if (eof_) return DecodeStatus::kNeedMore;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DecodeStatus::kNeedMore;
    if (!receive(static_cast<int>(left.count()))) eof_ = true;
  }
}

bool RawClient::receive(int wait_ms) {
  if (tls_) {
    // Plaintext the engine already holds comes first.
    auto area = decoder_.write_area();
    if (std::size_t n = tls_->read(area); n > 0) {
      decoder_.commit(n);
      return true;
    }
  }
  struct pollfd p = {fd_, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return true;
  if (!tls_) {
    auto area = decoder_.write_area();
    ssize_t n = ::recv(fd_, area.data(), area.size(), 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    decoder_.commit(static_cast<std::size_t>(n));
    return true;
  }
  std::uint8_t buffer[16384];
  ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;
  tls_->feed(ByteSpan(buffer, static_cast<std::size_t>(n)));
  flush_tls();
  for (;;) {
    auto area = decoder_.write_area();
    if (area.empty()) break;
    std::size_t got = tls_->read(area);
    if (got == 0) break;
    decoder_.commit(got);
  }
  // A closed or failed engine is the end of the stream for the protocol.
  return tls_->state() == TlsEngine::State::kOpen ||
         tls_->state() == TlsEngine::State::kHandshaking;
}

bool RawClient::read_hello(std::chrono::milliseconds deadline) {
  return next(deadline) == DecodeStatus::kHello;
}

std::optional<Frame> RawClient::read_frame(std::chrono::milliseconds deadline) {
  if (next(deadline) != DecodeStatus::kFrame) return std::nullopt;
  return decoder_.take_frame();
}

std::optional<ErrorMsg> RawClient::read_connection_error(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    DecodeStatus status = next(std::max(left, std::chrono::milliseconds(0)));
    if (status == DecodeStatus::kHello) continue;
    if (status != DecodeStatus::kFrame) return std::nullopt;
    Frame frame = decoder_.take_frame();
    if (frame.header.type == FrameType::kError && frame.header.request_id == 0) {
      return decode_error(frame.payload);
    }
  }
}

bool RawClient::closed_by_peer(std::chrono::milliseconds deadline) {
  // The decoder may have met the end of the stream already; recv would
  // only say so again.
  if (eof_) return true;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
    if (tls_ && n > 0) {
      // A close_notify or an alert ends the protocol's stream too.
      tls_->feed(ByteSpan(reinterpret_cast<std::uint8_t*>(buf), static_cast<std::size_t>(n)));
      std::uint8_t sink[4096];
      while (tls_->read(sink) > 0) {
      }
      if (!tls_->open()) return true;
    }
  }
}

std::optional<Bytes> RawClient::bytes_until_closed(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  Bytes received;
  std::uint8_t buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return received;
    if (n < 0) return std::nullopt;
    if (!tls_) {
      received.insert(received.end(), buf, buf + n);
      continue;
    }
    // Under TLS, what the server said is the plaintext: a close_notify or
    // an alert is no answer.
    tls_->feed(ByteSpan(buf, static_cast<std::size_t>(n)));
    std::uint8_t plain[4096];
    while (std::size_t got = tls_->read(plain)) received.insert(received.end(), plain, plain + got);
  }
}

void RawClient::send_byte_by_byte(const Bytes& bytes) {
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (std::uint8_t b : bytes) send(Bytes{b});
}

void RawClient::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace ft::testing
