#include "connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "interrupt.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

// Most iovecs handed to one sendmsg(): two per frame; far below IOV_MAX.
constexpr std::size_t kMaxIovecs = 64;
// Chunk buffers kept for reuse; the upload backpressure keeps about four
// chunks in flight, so a few more than that is enough.
constexpr std::size_t kMaxSpareBuffers = 6;

struct AddrInfoDeleter {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};

// Waits for a non-blocking connect() to finish; returns 0 or an errno.
int wait_connected(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) {
        if (interrupted()) return EINTR;
        continue;
      }
      return errno;
    }
    if (n == 0) continue;  // the deadline check above ends the loop
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

// Tries one address; returns the connected socket or -1 with `err` set.
int connect_one(const addrinfo& ai, Clock::time_point deadline, int& err) {
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  int rc;
  do {
    rc = ::connect(fd, ai.ai_addr, ai.ai_addrlen);
  } while (rc != 0 && errno == EINTR && !interrupted());
  if (rc == 0) {
    err = 0;
  } else if (errno == EINPROGRESS) {
    err = wait_connected(fd, deadline);
  } else {
    err = errno;
  }
  if (err != 0) {
    ::close(fd);
    return -1;
  }
  // Frames are batched by the queue already; small replies (LIST, STAT, the
  // hello) should not wait for Nagle.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::string host_port_text(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Connection> Connection::open(const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout, std::string& why) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  if (rc != 0) {
    why = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  int err = EHOSTUNREACH;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    int fd = connect_one(*ai, deadline, err);
    if (fd >= 0) return Connection(fd);
    if (err == EINTR || err == ETIMEDOUT) break;
  }
  why = err == EINTR ? "interrupted" : err == ETIMEDOUT ? "timed out" : std::strerror(err);
  return std::nullopt;
}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      queue_(std::move(other.queue_)),
      queued_chunk_bytes_(std::exchange(other.queued_chunk_bytes_, 0)),
      spare_(std::move(other.spare_)),
      last_error_(other.last_error_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    queue_ = std::move(other.queue_);
    queued_chunk_bytes_ = std::exchange(other.queued_chunk_bytes_, 0);
    spare_ = std::move(other.spare_);
    last_error_ = other.last_error_;
  }
  return *this;
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Connection::queue(Bytes bytes, std::uint32_t request_id) {
  queue_.push_back(Outgoing{request_id, std::move(bytes), {}, 0});
}

void Connection::queue_data(std::uint32_t request_id, Bytes head, Bytes chunk) {
  queued_chunk_bytes_ += chunk.size();
  queue_.push_back(Outgoing{request_id, std::move(head), std::move(chunk), 0});
}

void Connection::drop_unsent(std::uint32_t request_id) {
  // The front frame may be partly written; it must go out whole.
  auto first = queue_.begin();
  if (first != queue_.end() && first->sent > 0) ++first;
  auto end = std::remove_if(first, queue_.end(), [&](Outgoing& out) {
    if (out.request_id != request_id) return false;
    queued_chunk_bytes_ -= out.body.size();
    return true;
  });
  queue_.erase(end, queue_.end());
}

Bytes Connection::take_spare_buffer() {
  if (spare_.empty()) return {};
  Bytes out = std::move(spare_.back());
  spare_.pop_back();
  return out;
}

IoResult Connection::flush() {
  bool progress = false;
  while (!queue_.empty()) {
    iovec iov[kMaxIovecs];
    std::size_t count = 0;
    for (const Outgoing& out : queue_) {
      if (count + 2 > kMaxIovecs) break;
      std::size_t skip = out.sent;
      for (const Bytes* part : {&out.head, &out.body}) {
        if (skip >= part->size()) {
          skip -= part->size();
          continue;
        }
        iov[count].iov_base = const_cast<std::uint8_t*>(part->data() + skip);
        iov[count].iov_len = part->size() - skip;
        ++count;
        skip = 0;
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      last_error_ = errno;
      return IoResult::kError;
    }
    progress = true;
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      Outgoing& out = queue_.front();
      std::size_t take = std::min(left, out.size() - out.sent);
      out.sent += take;
      left -= take;
      if (out.sent < out.size()) break;
      queued_chunk_bytes_ -= out.body.size();
      if (out.body.capacity() > 0 && spare_.size() < kMaxSpareBuffers) {
        spare_.push_back(std::move(out.body));
      }
      queue_.pop_front();
    }
  }
  return progress ? IoResult::kProgress : IoResult::kWouldBlock;
}

IoResult Connection::receive(FrameDecoder& decoder) {
  std::span<std::uint8_t> area = decoder.write_area();
  if (area.empty()) {
    // Only a failed decoder offers no room; the caller reads its error.
    last_error_ = EPROTO;
    return IoResult::kError;
  }
  for (;;) {
    ssize_t n = ::recv(fd_, area.data(), area.size(), 0);
    if (n > 0) {
      decoder.commit(static_cast<std::size_t>(n));
      return IoResult::kProgress;
    }
    if (n == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kWouldBlock;
    last_error_ = errno;
    return IoResult::kError;
  }
}

}  // namespace ft::client
