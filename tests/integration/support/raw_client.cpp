#include "raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ft::testing {

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(const Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the server may have closed; tests check replies
    done += static_cast<std::size_t>(n);
  }
}

void RawClient::send_nonblocking(const Bytes& bytes) {
  std::size_t done = 0;
  for (int idle = 0; done < bytes.size() && idle < 20;) {
    struct pollfd p = {fd_, POLLOUT, 0};
    if (::poll(&p, 1, 50) <= 0) {
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
}

void RawClient::send_hello(std::uint32_t capabilities) {
  Bytes out;
  encode_hello(out, Hello{kProtocolVersion, kProtocolVersion, capabilities});
  send(out);
}

DecodeStatus RawClient::pull(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    DecodeStatus status = decoder_.next();
    if (status != DecodeStatus::kNeedMore) return status;
    if (eof_) return DecodeStatus::kNeedMore;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DecodeStatus::kNeedMore;
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    auto area = decoder_.write_area();
    ssize_t n = ::recv(fd_, area.data(), area.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    decoder_.commit(static_cast<std::size_t>(n));
  }
}

bool RawClient::read_hello(std::chrono::milliseconds deadline) {
  return pull(deadline) == DecodeStatus::kHello;
}

std::optional<Frame> RawClient::read_frame(std::chrono::milliseconds deadline) {
  if (pull(deadline) != DecodeStatus::kFrame) return std::nullopt;
  return decoder_.take_frame();
}

bool RawClient::closed_by_peer(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
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
    received.insert(received.end(), buf, buf + n);
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
