#include "client/net/connection.hpp"

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

#include "client/net/interrupt.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

// Most iovecs handed to one sendmsg(): two per frame; far below IOV_MAX.
constexpr std::size_t kMaxIovecs = 64;
// Chunk buffers kept for reuse; the upload backpressure keeps about four
// chunks in flight, so a few more than that is enough.
constexpr std::size_t kMaxSpareBuffers = 4;

// TLS: frames are encrypted about a batch at a time, and only once all the
// ciphertext before them is in the kernel: the socket buffer keeps the wire
// busy meanwhile, the engine's output is then taken without a copy, and at
// most one batch of frames is out of drop_unsent()'s reach. The batch is one
// default chunk, so a 1 MiB DATA frame is one engine write and leaves in one
// or two send()s.
constexpr std::size_t kEncryptBatch = 1024 * 1024;
// Frames smaller than this are gathered into one write (one record for many
// small requests) instead of a record each.
constexpr std::size_t kSmallFrame = 16 * 1024;
// recv() size for ciphertext: several maximum-size records per call.
constexpr std::size_t kCipherReadSize = 256 * 1024;
// The most of a plaintext notice (hello + ERROR) a client reads.
constexpr std::size_t kMaxNoticeBytes = 64 * 1024;
constexpr std::uint8_t kTlsAlert = 0x15;
constexpr std::uint8_t kTlsHandshake = 0x16;
constexpr std::uint8_t kFtMagic = 0x89;

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

// Tries one address; returns the connected socket, or an empty Fd with
// `err` set.
Fd connect_one(const addrinfo& ai, Clock::time_point deadline, int& err) {
  Fd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (!fd) {
    err = errno;
    return fd;
  }
  int rc;
  do {
    rc = ::connect(fd.get(), ai.ai_addr, ai.ai_addrlen);
  } while (rc != 0 && errno == EINTR && !interrupted());
  if (rc == 0) {
    err = 0;
  } else if (errno == EINPROGRESS) {
    err = wait_connected(fd.get(), deadline);
  } else {
    err = errno;
  }
  if (err != 0) return Fd();
  // Frames are batched by the queue already; small replies (LIST, STAT, the
  // hello) should not wait for Nagle.
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::string host_port_text(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Connection> Connection::open(const std::string& host, std::uint16_t port,
                                           Clock::time_point deadline, OpenFailure& failure) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  if (rc != 0) {
    failure.why = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    failure.unresolved = true;
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  int err = EHOSTUNREACH;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    Fd fd = connect_one(*ai, deadline, err);
    if (fd) return Connection(std::move(fd));
    if (err == EINTR || err == ETIMEDOUT) break;
  }
  failure.why = err == EINTR ? "interrupted" : err == ETIMEDOUT ? "timed out" : std::strerror(err);
  return std::nullopt;
}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::move(other.fd_)),
      queue_(std::move(other.queue_)),
      queued_chunk_bytes_(std::exchange(other.queued_chunk_bytes_, 0)),
      spare_(std::move(other.spare_)),
      last_error_(other.last_error_),
      tls_(std::move(other.tls_)),
      cipher_out_(std::move(other.cipher_out_)),
      cipher_sent_(std::exchange(other.cipher_sent_, 0)),
      plain_batch_(std::move(other.plain_batch_)),
      cipher_in_(std::move(other.cipher_in_)),
      input_buffered_(std::exchange(other.input_buffered_, false)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::move(other.fd_);
    queue_ = std::move(other.queue_);
    queued_chunk_bytes_ = std::exchange(other.queued_chunk_bytes_, 0);
    spare_ = std::move(other.spare_);
    last_error_ = other.last_error_;
    tls_ = std::move(other.tls_);
    cipher_out_ = std::move(other.cipher_out_);
    cipher_sent_ = std::exchange(other.cipher_sent_, 0);
    plain_batch_ = std::move(other.plain_batch_);
    cipher_in_ = std::move(other.cipher_in_);
    input_buffered_ = std::exchange(other.input_buffered_, false);
  }
  return *this;
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (fd_ && tls_ != nullptr && tls_->open()) {
    // close_notify tells the server the stream ended on purpose (best
    // effort: never waits for the socket).
    tls_->close();
    send_alert_best_effort();
  }
  fd_.reset();
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

bool Connection::has_output() const {
  if (!queue_.empty()) return true;
  return tls_ != nullptr && (cipher_unsent() > 0 || tls_->pending() > 0);
}

bool Connection::tls_failed() const {
  return tls_ != nullptr && tls_->state() == TlsEngine::State::kFailed;
}

std::string Connection::tls_error() const {
  return tls_ != nullptr ? tls_->error() : std::string();
}

IoResult Connection::flush(std::size_t budget) {
  send_budget_ = std::max<std::size_t>(budget, 1);
  IoResult r = tls_ != nullptr ? flush_tls() : flush_plain();
  send_budget_ = kNoBudget;
  return r;
}

IoResult Connection::receive(FrameDecoder& decoder, std::size_t budget) {
  budget = std::max<std::size_t>(budget, 1);
  if (tls_ != nullptr) return receive_tls(decoder, budget);
  std::span<std::uint8_t> area = decoder.write_area();
  if (area.empty()) {
    // Only a failed decoder offers no room; the caller reads its error.
    last_error_ = EPROTO;
    return IoResult::kError;
  }
  area = area.first(std::min(area.size(), budget));
  for (;;) {
    ssize_t n = ::recv(fd_.get(), area.data(), area.size(), 0);
    if (n > 0) {
      bytes_received_ += static_cast<std::uint64_t>(n);
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

void Connection::release_frame(Outgoing& out) {
  queued_chunk_bytes_ -= out.body.size();
  if (out.body.capacity() > 0 && spare_.size() < kMaxSpareBuffers) {
    spare_.push_back(std::move(out.body));
  }
}

IoResult Connection::flush_plain() {
  bool progress = false;
  while (!queue_.empty() && send_budget_ > 0) {
    iovec iov[kMaxIovecs];
    std::size_t count = 0;
    std::size_t total = 0;
    for (const Outgoing& out : queue_) {
      if (count + 2 > kMaxIovecs || total == send_budget_) break;
      std::size_t skip = out.sent;
      for (const Bytes* part : {&out.head, &out.body}) {
        if (skip >= part->size()) {
          skip -= part->size();
          continue;
        }
        if (total == send_budget_) break;
        iov[count].iov_base = const_cast<std::uint8_t*>(part->data() + skip);
        iov[count].iov_len = std::min(part->size() - skip, send_budget_ - total);
        total += iov[count].iov_len;
        ++count;
        skip = 0;
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      last_error_ = errno;
      return IoResult::kError;
    }
    progress = true;
    bytes_sent_ += static_cast<std::uint64_t>(n);
    if (send_budget_ != kNoBudget) send_budget_ -= static_cast<std::size_t>(n);
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      Outgoing& out = queue_.front();
      std::size_t take = std::min(left, out.size() - out.sent);
      out.sent += take;
      left -= take;
      if (out.sent < out.size()) break;
      release_frame(out);
      queue_.pop_front();
    }
  }
  return progress ? IoResult::kProgress : IoResult::kWouldBlock;
}

// --- TLS ------------------------------------------------------------------

HandshakeResult Connection::handshake(std::shared_ptr<TlsContext> context,
                                      Clock::time_point deadline) {
  tls_ = std::make_unique<TlsEngine>(std::move(context));
  cipher_in_.resize(kCipherReadSize);
  tls_->start();
  bool first_byte = true;
  for (;;) {
    // The ClientHello (and, at the end, our Finished) leave first; nothing of
    // the ft protocol is queued before the handshake completes.
    if (tls_->pending() > 0) tls_->take_pending(cipher_out_);
    if (cipher_unsent() > 0 && send_ciphertext() == IoResult::kError) {
      if (last_error_ == EPIPE || last_error_ == ECONNRESET) {
        return {HandshakeOutcome::kClosed, {}, {}};
      }
      return {HandshakeOutcome::kError, {}, std::strerror(last_error_)};
    }
    if (tls_->open()) {
      // Our Finished may still wait in cipher_out_: flush() sends it ahead
      // of the first frame. The server's first bytes may already sit
      // decrypted in the engine.
      input_buffered_ = true;
      return {HandshakeOutcome::kOpen, {}, {}};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return {HandshakeOutcome::kTimedOut, {}, {}};
    pollfd p{fd_.get(), POLLIN, 0};
    if (cipher_unsent() > 0) p.events |= POLLOUT;
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return {HandshakeOutcome::kError, {}, std::strerror(errno)};
    if (interrupted()) return {HandshakeOutcome::kInterrupted, {}, {}};
    if (n <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;

    ssize_t got = ::recv(fd_.get(), cipher_in_.data(), cipher_in_.size(), 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNRESET || errno == EPIPE) return {HandshakeOutcome::kClosed, {}, {}};
      return {HandshakeOutcome::kError, {}, std::strerror(errno)};
    }
    if (got == 0) return {HandshakeOutcome::kClosed, {}, {}};
    ByteSpan bytes(cipher_in_.data(), static_cast<std::size_t>(got));
    if (first_byte) {
      first_byte = false;
      if (bytes[0] == kFtMagic) {
        // A plaintext notice (protocol section 10.2): the server closes after
        // it, so read to the end of the stream (bounded, with the deadline).
        HandshakeResult result{HandshakeOutcome::kPlaintext, Bytes(bytes.begin(), bytes.end()), {}};
        while (result.plaintext.size() < kMaxNoticeBytes) {
          left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
          pollfd q{fd_.get(), POLLIN, 0};
          if (left.count() <= 0 || ::poll(&q, 1, static_cast<int>(left.count())) <= 0) break;
          got = ::recv(fd_.get(), cipher_in_.data(),
                       std::min(cipher_in_.size(), kMaxNoticeBytes - result.plaintext.size()), 0);
          if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
          if (got <= 0) break;
          result.plaintext.insert(result.plaintext.end(), cipher_in_.begin(),
                                  cipher_in_.begin() + got);
        }
        return result;
      }
      // A refusal may come as a bare alert record rather than a handshake
      // record; anything else is not a TLS server.
      if (bytes[0] != kTlsHandshake && bytes[0] != kTlsAlert) {
        return {HandshakeOutcome::kNotTls, {}, {}};
      }
    }
    if (!tls_->feed(bytes)) {
      send_alert_best_effort();
      return {HandshakeOutcome::kRefused, {}, tls_->error()};
    }
  }
}

void Connection::send_alert_best_effort() {
  if (tls_ == nullptr || !fd_) return;
  if (tls_->pending() > 0) tls_->take_pending(cipher_out_);
  if (cipher_unsent() > 0) (void)send_ciphertext();
}

IoResult Connection::send_ciphertext() {
  while (cipher_unsent() > 0) {
    // An exhausted budget looks like a full socket to the callers: the
    // session waits for the rate limiter rather than for POLLOUT.
    if (send_budget_ == 0) return IoResult::kWouldBlock;
    ssize_t n = ::send(fd_.get(), cipher_out_.data() + cipher_sent_,
                       std::min(cipher_unsent(), send_budget_), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kWouldBlock;
      last_error_ = errno;
      return IoResult::kError;
    }
    cipher_sent_ += static_cast<std::size_t>(n);
    bytes_sent_ += static_cast<std::uint64_t>(n);
    if (send_budget_ != kNoBudget) send_budget_ -= static_cast<std::size_t>(n);
  }
  cipher_out_.clear();
  cipher_sent_ = 0;
  return IoResult::kProgress;
}

bool Connection::encrypt_some() {
  plain_batch_.clear();
  std::size_t batched = 0;
  auto write_batch = [&] {
    if (plain_batch_.empty()) return true;
    bool ok = tls_->write(plain_batch_);
    plain_batch_.clear();
    return ok;
  };
  // The batch's records go into one buffer sized for them up front.
  std::size_t batch_size = 0;
  for (auto it = queue_.begin(); it != queue_.end() && batch_size < kEncryptBatch; ++it) {
    batch_size += it->size();
  }
  tls_->reserve_output(batch_size);
  while (!queue_.empty() && batched < kEncryptBatch) {
    Outgoing& out = queue_.front();
    // Frames are only ever encrypted whole, so every frame still queued is
    // untouched and drop_unsent() may remove it.
    if (out.size() < kSmallFrame) {
      plain_batch_.insert(plain_batch_.end(), out.head.begin(), out.head.end());
      plain_batch_.insert(plain_batch_.end(), out.body.begin(), out.body.end());
    } else {
      // The head joins the small frames before it; the chunk is encrypted
      // from where it lies, in one write.
      plain_batch_.insert(plain_batch_.end(), out.head.begin(), out.head.end());
      if (!write_batch() || (!out.body.empty() && !tls_->write(out.body))) return false;
    }
    batched += out.size();
    release_frame(out);
    queue_.pop_front();
  }
  if (!write_batch()) return false;
  tls_->take_pending(cipher_out_);
  return true;
}

IoResult Connection::flush_tls() {
  bool progress = false;
  for (;;) {
    if (tls_->pending() > 0) tls_->take_pending(cipher_out_);
    if (cipher_unsent() == 0 && !queue_.empty()) {
      if (!encrypt_some()) {
        last_error_ = EPROTO;
        return IoResult::kError;
      }
    }
    if (cipher_unsent() == 0) break;
    const std::size_t unsent_before = cipher_unsent();
    IoResult r = send_ciphertext();
    if (r == IoResult::kError) return r;
    if (cipher_unsent() < unsent_before) progress = true;
    if (r == IoResult::kWouldBlock) break;
  }
  return progress ? IoResult::kProgress : IoResult::kWouldBlock;
}

IoResult Connection::receive_tls(FrameDecoder& decoder, std::size_t budget) {
  std::span<std::uint8_t> area = decoder.write_area();
  if (area.empty()) {
    last_error_ = EPROTO;
    return IoResult::kError;
  }
  // The engine hands out about a record per read: gather what it holds, so
  // that a DATA payload fills in big pieces.
  std::size_t filled = 0;
  for (;;) {
    while (filled < area.size()) {
      std::size_t n = tls_->read(area.subspan(filled));
      if (n == 0) break;
      filled += n;
    }
    // A full area may leave more inside the engine, where poll() cannot see it.
    input_buffered_ = filled == area.size();
    if (tls_->state() == TlsEngine::State::kFailed) {
      send_alert_best_effort();
      last_error_ = EPROTO;
      return IoResult::kError;
    }
    if (filled > 0) break;
    if (tls_->state() == TlsEngine::State::kClosed) return IoResult::kClosed;
    // Nothing decrypted yet (filled is 0 here) and the budget spent.
    if (budget == 0) return IoResult::kWouldBlock;
    ssize_t got = ::recv(fd_.get(), cipher_in_.data(), std::min(cipher_in_.size(), budget), 0);
    if (got > 0) {
      bytes_received_ += static_cast<std::uint64_t>(got);
      if (budget != kNoBudget) budget -= static_cast<std::size_t>(got);
      if (!tls_->feed(ByteSpan(cipher_in_.data(), static_cast<std::size_t>(got)))) {
        send_alert_best_effort();
        last_error_ = EPROTO;
        return IoResult::kError;
      }
      continue;
    }
    if (got == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kWouldBlock;
    last_error_ = errno;
    return IoResult::kError;
  }
  decoder.commit(filled);
  return IoResult::kProgress;
}

}  // namespace ft::client
