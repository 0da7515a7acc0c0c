#include "tls_raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/crypto/keys.hpp"

namespace ft::testing {

TlsRawClient::TlsRawClient(int port, const std::string& client_key_text) {
  auto key = parse_client_key(client_key_text, error_);
  if (!key) return;
  auto context = TlsContext::client(*key, error_);
  if (!context) return;
  tls_ = std::make_unique<TlsEngine>(context);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error_ = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
  }
}

TlsRawClient::~TlsRawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool TlsRawClient::flush() {
  while (tls_->pending() > 0) {
    ByteSpan out = tls_->peek_pending();
    ssize_t n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    tls_->consume_pending(static_cast<std::size_t>(n));
  }
  return true;
}

bool TlsRawClient::pump(std::chrono::steady_clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  struct pollfd p = {fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return true;
  std::uint8_t buffer[16384];
  ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;
  const bool fed = tls_->feed(ByteSpan(buffer, static_cast<std::size_t>(n)));
  flush();
  if (!fed) error_ = tls_->error();
  return fed;
}

bool TlsRawClient::handshake(std::chrono::milliseconds deadline) {
  if (fd_ < 0 || !tls_) return false;
  tls_->start();
  if (!flush()) return false;
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!tls_->open()) {
    if (!pump(until)) return false;
  }
  return true;
}

bool TlsRawClient::send(const Bytes& plaintext) {
  return tls_ && tls_->write(ByteSpan(plaintext.data(), plaintext.size())) && flush();
}

bool TlsRawClient::send_hello(std::uint32_t capabilities) {
  Bytes out;
  encode_hello(out, Hello{kProtocolVersion, kProtocolVersion, capabilities});
  return send(out);
}

DecodeStatus TlsRawClient::next(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    DecodeStatus status = decoder_.next();
    if (status != DecodeStatus::kNeedMore) return status;
    // Plaintext already decrypted comes first.
    auto area = decoder_.write_area();
    std::size_t got = tls_->read(area);
    if (got > 0) {
      decoder_.commit(got);
      continue;
    }
    if (!pump(until)) return DecodeStatus::kNeedMore;
  }
}

bool TlsRawClient::read_hello(std::chrono::milliseconds deadline) {
  return next(deadline) == DecodeStatus::kHello;
}

std::optional<Frame> TlsRawClient::read_frame(std::chrono::milliseconds deadline) {
  if (next(deadline) != DecodeStatus::kFrame) return std::nullopt;
  return decoder_.take_frame();
}

std::optional<ErrorMsg> TlsRawClient::read_connection_error(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    DecodeStatus status = next(left);
    if (status == DecodeStatus::kHello) continue;
    if (status != DecodeStatus::kFrame) return std::nullopt;
    Frame frame = decoder_.take_frame();
    if (frame.header.type == FrameType::kError && frame.header.request_id == 0) {
      return decode_error(frame.payload);
    }
  }
}

}  // namespace ft::testing
