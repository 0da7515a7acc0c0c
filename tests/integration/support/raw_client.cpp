#include "raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ft::testing {

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
}

RawClient::~RawClient() {
  close();
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawClient::send(const Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t RawClient::send_nonblocking(const Bytes& bytes, std::chrono::milliseconds patience) {
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
