#include "client/net/session.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/net/interrupt.hpp"
#include "client/net/server_list.hpp"
#include "common/base/token_bucket.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/frame_check.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

// Reads per wakeup before the loop gives writing (and the handler's
// producer) a turn again.
constexpr int kMaxReadsPerWakeup = 64;

// The longest run() sleeps in poll() before calling produce() again even
// if the socket has no news, so that the progress line keeps moving (rate,
// "committing") while the server is silent.
constexpr std::chrono::milliseconds kWakeInterval{250};

// --bwlimit: one bucket per direction, for the whole process.
struct BandwidthLimit {
  std::optional<TokenBucket> send;
  std::optional<TokenBucket> receive;
};

BandwidthLimit& bandwidth_limit() {
  static BandwidthLimit limit;
  return limit;
}

// The process's key (set once by the command line, read by every attempt).
std::shared_ptr<TlsContext>& key_context() {
  static std::shared_ptr<TlsContext> context;
  return context;
}

constexpr const char* kKeyRequired = "server requires a key: use --key-file or FT_KEY_FILE";
constexpr const char* kKeyRefused =
    "authentication failed: the server refused the key (wrong key or unknown identity)";
constexpr const char* kNoHandshake =
    "authentication failed: the server did not complete the TLS handshake (does it run with "
    "--keys?)";

// The failure a plaintext notice (protocol section 10.2: a hello and an
// ERROR on request id 0, sent before any TLS byte) stands for. The notice is
// not authenticated: it is only reported, its text made printable.
Error notice_error(const Bytes& notice) {
  FrameDecoder decoder(FrameDecoder::Options{.sender = Sender::kServer, .expect_hello = true});
  std::size_t fed = 0;
  bool hello = false;
  for (;;) {
    fed += decoder.feed(ByteSpan(notice).subspan(fed));
    DecodeStatus status = decoder.next();
    if (status == DecodeStatus::kHello) {
      hello = true;
      continue;
    }
    if (status == DecodeStatus::kFrame && hello) {
      Frame frame = decoder.take_frame();
      auto error = decode_error(frame.payload);
      if (frame.header.request_id != 0 || !error) break;
      const auto code = static_cast<ErrorCode>(error->code);
      if (code == ErrorCode::AUTH_REQUIRED) {
        // A server that wants a key although we came with one: most likely
        // not the server we meant, or a notice forged on the way.
        return Error{code,
                     {},
                     "the server answered in plaintext that it requires a key: " +
                         (error->message.empty() ? std::string(default_message(code))
                                                 : printable(error->message))};
      }
      return Error{code,
                   {},
                   "server (plaintext notice): " + (error->message.empty()
                                                        ? std::string(default_message(code))
                                                        : printable(error->message))};
    }
    if (status != DecodeStatus::kNeedMore || fed >= notice.size()) break;
  }
  return Error{ErrorCode::AUTH_FAILED, {}, kNoHandshake};
}

// Runs the TLS handshake on a fresh connection; the failure, or nullopt.
std::optional<Error> secure(Connection& connection, std::shared_ptr<TlsContext> context,
                            const std::string& host, std::uint16_t port,
                            Clock::time_point deadline) {
  HandshakeResult result = connection.handshake(std::move(context), deadline);
  const std::string where = host_port_text(host, port);
  switch (result.outcome) {
    case HandshakeOutcome::kOpen:
      return std::nullopt;
    case HandshakeOutcome::kRefused:
      return Error{ErrorCode::AUTH_FAILED, {}, kKeyRefused};
    case HandshakeOutcome::kClosed:
    case HandshakeOutcome::kNotTls:
      return Error{ErrorCode::AUTH_FAILED, {}, kNoHandshake};
    case HandshakeOutcome::kPlaintext:
      return notice_error(result.plaintext);
    case HandshakeOutcome::kTimedOut:
      return Error{ErrorCode::CONNECT_FAILED,
                   {},
                   "cannot connect to " + where + ": the TLS handshake did not finish within " +
                       std::to_string(kConnectTimeout.count()) + " s"};
    case HandshakeOutcome::kInterrupted:
      return Error{ErrorCode::CANCELLED, {}, "interrupted"};
    case HandshakeOutcome::kError:
      break;
  }
  return Error{ErrorCode::CONNECT_FAILED,
               {},
               "cannot connect to " + where + ": TLS handshake: " + result.detail};
}

}  // namespace

void use_key(std::shared_ptr<TlsContext> context) {
  key_context() = std::move(context);
}

void limit_bandwidth(std::uint64_t rate) {
  BandwidthLimit& limit = bandwidth_limit();
  limit.send.reset();
  limit.receive.reset();
  if (rate == 0) return;
  limit.send.emplace(rate, Clock::now());
  limit.receive.emplace(rate, Clock::now());
}

IoResult Session::flush_paced() {
  auto& bucket = bandwidth_limit().send;
  if (!bucket) return connection_.flush();
  const auto now = Clock::now();
  if (!bucket->ready(now)) return IoResult::kWouldBlock;
  const std::uint64_t before = connection_.bytes_sent();
  // At most one burst per call: the bucket then runs at most a burst into
  // debt, which keeps every pause short (a tenth of a second).
  IoResult r = connection_.flush(bucket->burst());
  bucket->take(connection_.bytes_sent() - before, now);
  return r;
}

Session::Session(Connection connection)
    : connection_(std::move(connection)),
      decoder_(FrameDecoder::Options{.sender = Sender::kServer, .expect_hello = true}) {
  Bytes hello;
  encode_hello(
      hello, Hello{.capabilities = kCapResume | kCapTrees | kCapEager | kCapFrameCheckPair |
                                   kCapStream | kCapDelete | kCapLink | kCapDeltaPut | kCapArchive |
                                   kCapSparse | kCapOwners | kCapDeltaGet | kCapPaced |
                                   kCapDeltaEarly | (compression_level() ? kCapCompress : 0u)});
  connection_.queue(std::move(hello));
}

void Session::send(Bytes frame, std::uint32_t request_id) {
  finish_compressed_chunks();
  if (!hello_received_) {
    // Whether the frame needs its check block is known only from the
    // server's hello: a round trip once per connection.
    before_hello_.emplace_back(std::move(frame), request_id);
    return;
  }
  if (frame_check_agreed_) frame = add_frame_checks(frame);
  connection_.queue(std::move(frame), request_id);
}

void Session::send_data(std::uint32_t request_id, Bytes head, Bytes chunk) {
  if (frame_check_agreed_) head = add_data_head_check(head);
  connection_.queue_data(request_id, std::move(head), std::move(chunk));
}

void Session::send_chunk(std::uint32_t request_id, std::uint64_t offset, Bytes chunk) {
  const std::uint64_t chunk_hash = hash64(chunk);
  send_chunk(request_id, offset, std::move(chunk), chunk_hash);
}

void Session::send_chunk(std::uint32_t request_id, std::uint64_t offset, Bytes chunk,
                         std::uint64_t chunk_hash) {
  if (compress_agreed_) {
    // Compressed while the caller reads and hashes the next chunks; queued
    // in order, by a later chunk, the next other frame or run().
    while (compression_.in_flight() >= SessionCompression::kChunksInFlight) {
      queue_oldest_compressed();
    }
    compressing_bytes_ += chunk.size();
    compressing_.push_back(CompressingChunk{request_id, offset, chunk_hash, chunk.size()});
    compression_.start(std::move(chunk));
    return;
  }
  finish_compressed_chunks();
  Bytes head(kDataHeadSize);
  encode_data_head(head.data(), request_id, offset, chunk_hash,
                   static_cast<std::uint32_t>(chunk.size()), 0);
  send_data(request_id, std::move(head), std::move(chunk));
}

void Session::finish_compressed_chunks(bool only_done) {
  if (!only_done) {
    while (!compressing_.empty()) queue_oldest_compressed();
    return;
  }
  while (compression_.oldest_done()) queue_oldest_compressed();
  // Nothing to write while the rest compresses: poll() would sleep until
  // its wake-up interval.
  if (!compressing_.empty() && !connection_.has_output()) queue_oldest_compressed();
}

void Session::queue_oldest_compressed() {
  const CompressingChunk data = compressing_.front();
  compressing_.pop_front();
  compressing_bytes_ -= data.size;
  Bytes chunk;
  const bool compressed = compression_.finish(chunk);
  Bytes head(kDataHeadSize);
  encode_data_head(head.data(), data.request_id, data.offset, data.chunk_hash,
                   static_cast<std::uint32_t>(chunk.size()), compressed ? kFlagCompressed : 0);
  send_data(data.request_id, std::move(head), std::move(chunk));
}

void Session::take_hello() {
  const std::uint32_t capabilities = decoder_.hello().capabilities;
  if (frame_check_offer(capabilities) == FrameCheckOffer::kCorrupted) {
    // One of the two FRAME_CHECK bits: a bit of the hello flipped on the
    // way (the server answers both or neither).
    fail(ErrorCode::FRAME_CHECK, "connection damaged in transit: the server's hello is corrupted");
    return;
  }
  hello_received_ = true;
  resume_agreed_ = (capabilities & kCapResume) != 0;
  trees_agreed_ = (capabilities & kCapTrees) != 0;
  eager_agreed_ = (capabilities & kCapEager) != 0;
  stream_agreed_ = (capabilities & kCapStream) != 0;
  paced_agreed_ = (capabilities & kCapPaced) != 0;
  delete_agreed_ = (capabilities & kCapDelete) != 0;
  link_agreed_ = (capabilities & kCapLink) != 0;
  delta_put_agreed_ = (capabilities & kCapDeltaPut) != 0;
  delta_early_agreed_ = delta_put_agreed_ && (capabilities & kCapDeltaEarly) != 0;
  delta_get_agreed_ = (capabilities & kCapDeltaGet) != 0;
  archive_agreed_ = (capabilities & kCapArchive) != 0;
  sparse_agreed_ = (capabilities & kCapSparse) != 0;
  owners_agreed_ = (capabilities & kCapOwners) != 0;
  // Only what this client offered: a server answering COMPRESS unasked is
  // not believed (a compressed DATA is then a protocol error).
  compress_agreed_ = compression_level() && (capabilities & kCapCompress) != 0;
  frame_check_agreed_ = frame_check_offer(capabilities) == FrameCheckOffer::kOffered;
  decoder_.set_frame_check(frame_check_agreed_);
  auto waiting = std::move(before_hello_);
  before_hello_.clear();
  for (auto& [frame, id] : waiting) send(std::move(frame), id);
}

void Session::fail(ErrorCode code, std::string message) {
  if (!failure_) failure_ = Error{code, {}, std::move(message)};
}

std::optional<Error> Session::run(SessionHandler& handler) {
  install_interrupt_handlers();
  auto last_activity = Clock::now();
  bool write_failed = false;
  while (!failure_) {
    // A signal that came while we were not in poll() (reading or writing a
    // file) is seen here.
    if (interrupted()) {
      fail(ErrorCode::CANCELLED, "interrupted");
      break;
    }
    handler.produce(*this);
    // Chunks still compressing stay with their threads while poll() waits
    // for the socket, unless there is nothing else to write.
    finish_compressed_chunks(true);
    if (failure_) break;
    if (hello_received_ && handler.finished()) return std::nullopt;

    pollfd polled[2] = {{connection_.fd(), POLLIN, 0}, {handler.wake_fd(), POLLIN, 0}};
    pollfd& p = polled[0];
    if (connection_.has_output() && !write_failed) p.events |= POLLOUT;
    const nfds_t count = polled[1].fd >= 0 ? 2 : 1;
    // --bwlimit: a direction whose bucket is in debt is left out of the
    // poll (an unread socket closes the TCP window, so the server slows
    // down too) and the wait ends when the debt is paid.
    std::chrono::milliseconds paced_wait = kWakeInterval;
    if (auto& limit = bandwidth_limit(); limit.send) {
      const auto now = Clock::now();
      if ((p.events & POLLOUT) != 0 && !limit.send->ready(now)) {
        p.events = static_cast<short>(p.events & ~POLLOUT);
        paced_wait = std::min(paced_wait, limit.send->wait(now));
      }
      if (!limit.receive->ready(now)) {
        p.events = static_cast<short>(p.events & ~POLLIN);
        paced_wait = std::min(paced_wait, limit.receive->wait(now));
        // We are the ones not reading: the server's silence is not measured.
        last_activity = now;
      }
    }
    auto idle_left = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_activity + kIdleTimeout - Clock::now());
    if (idle_left.count() <= 0) {
      fail(ErrorCode::CONNECTION_LOST, "connection lost: no reply from the server in " +
                                           std::to_string(kIdleTimeout.count()) + " s");
      break;
    }
    if (!hello_received_ && hello_deadline_) {
      // Before the hello the wait is the connect deadline's, far shorter
      // than the idle one: a silent peer is not (yet) an ft server.
      auto hello_left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*hello_deadline_ - Clock::now());
      if (hello_left.count() <= 0) {
        fail(ErrorCode::CONNECT_FAILED, hello_timeout_message_);
        break;
      }
      idle_left = std::min(idle_left, hello_left);
    }
    // Bytes already decrypted inside the TLS engine do not make the socket
    // readable: do not sleep on them.
    const bool buffered = connection_.has_buffered_input();
    const auto wait = std::min(idle_left, paced_wait);
    int n = ::poll(polled, count, buffered ? 0 : static_cast<int>(wait.count()));
    if (buffered && n >= 0) {
      p.revents |= POLLIN;
      n = 1;
    }
    if (n < 0) {
      if (errno != EINTR) {
        fail(ErrorCode::INTERNAL, std::string("poll: ") + std::strerror(errno));
      } else if (interrupted()) {
        fail(ErrorCode::CANCELLED, "interrupted");
      }
      continue;
    }
    if (n == 0) continue;  // the idle check above decides

    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (receive_and_dispatch(handler)) last_activity = Clock::now();
      if (failure_) break;
    }
    if ((p.revents & POLLOUT) != 0) {
      IoResult r = flush_paced();
      if (r == IoResult::kProgress) last_activity = Clock::now();
      if (r == IoResult::kError) {
        write_failed = true;
        drain_after_write_error(handler, connection_.last_error());
      }
    }
  }
  return failure_;
}

// Reads what the socket holds and dispatches every complete item. Returns
// true if any byte arrived.
bool Session::receive_and_dispatch(SessionHandler& handler) {
  bool any = false;
  auto& bucket = bandwidth_limit().receive;
  for (int i = 0; i < kMaxReadsPerWakeup && !failure_; ++i) {
    IoResult r = IoResult::kWouldBlock;
    if (bucket) {
      const auto now = Clock::now();
      if (!bucket->ready(now)) break;
      const std::uint64_t before = connection_.bytes_received();
      r = connection_.receive(decoder_, bucket->burst());
      bucket->take(connection_.bytes_received() - before, now);
    } else {
      r = connection_.receive(decoder_);
    }
    if (r == IoResult::kProgress) {
      any = true;
      dispatch(handler);
      continue;
    }
    if (r == IoResult::kClosed) {
      end_of_stream(handler);
    } else if (r == IoResult::kError) {
      if (decoder_.failed()) {
        dispatch(handler);
      } else if (connection_.tls_failed()) {
        fail_channel();
      } else {
        fail(ErrorCode::CONNECTION_LOST,
             std::string("connection lost: ") + std::strerror(connection_.last_error()));
      }
    }
    break;
  }
  return any;
}

void Session::dispatch(SessionHandler& handler) {
  while (!failure_) {
    switch (decoder_.next()) {
      case DecodeStatus::kNeedMore:
        return;
      case DecodeStatus::kError:
        if (decoder_.error().kind == DecodeErrorKind::kFrameCheck) {
          // A bit flipped between the server and us: retried like a lost
          // connection (docs/client.md).
          fail(ErrorCode::FRAME_CHECK, "connection damaged in transit: " + decoder_.error().reason +
                                           " at byte " + std::to_string(decoder_.error().offset));
        } else {
          fail(ErrorCode::PROTOCOL, "protocol error from the server: " + decoder_.error().reason);
        }
        return;
      case DecodeStatus::kHello:
        take_hello();
        break;
      case DecodeStatus::kFrame: {
        Frame frame = decoder_.take_frame();
        if (frame.header.request_id != 0) {
          // Every chunk started is queued before a handler runs, and the
          // ones it starts before the next: a handler may drop a request's
          // unsent frames (a rewind, a cancel), which must include them.
          finish_compressed_chunks();
          handler.on_frame(*this, frame);
          finish_compressed_chunks();
          break;
        }
        // Only ERROR may carry id 0 (the decoder checks): the server gives up
        // on the whole connection.
        auto error = decode_error(frame.payload);
        if (!error) {
          protocol_error("the server sent a malformed ERROR frame");
          return;
        }
        if (static_cast<ErrorCode>(error->code) == ErrorCode::AUTH_REQUIRED) {
          // The plaintext notice of a server with keys (protocol 10.2).
          fail(ErrorCode::AUTH_REQUIRED, kKeyRequired);
          return;
        }
        std::string message = error->message.empty()
                                  ? std::string(default_message(ErrorCode(error->code)))
                                  : printable(error->message);
        fail(static_cast<ErrorCode>(error->code), "server: " + message);
        return;
      }
    }
  }
}

void Session::end_of_stream(SessionHandler& handler) {
  if (decoder_.finish() == DecodeStatus::kError) {
    // A stream cut inside a frame is what a crashed server or a dropped link
    // looks like: a lost connection (exit 4) rather than a misbehaving peer.
    fail(ErrorCode::CONNECTION_LOST, "connection lost: " + decoder_.error().reason);
    return;
  }
  if (hello_received_ && handler.finished()) return;
  fail(ErrorCode::CONNECTION_LOST, "connection lost: closed by the server");
}

// A failed send usually means the server closed the connection, often after
// telling why in an ERROR with id 0: read what is left before reporting.
void Session::drain_after_write_error(SessionHandler& handler, int err) {
  for (int i = 0; i < kMaxReadsPerWakeup && !failure_; ++i) {
    IoResult r = connection_.receive(decoder_);
    if (r == IoResult::kProgress) {
      dispatch(handler);
      continue;
    }
    if (r == IoResult::kClosed) {
      end_of_stream(handler);
    } else if (r == IoResult::kError && decoder_.failed()) {
      dispatch(handler);
    }
    break;
  }
  if (connection_.tls_failed()) fail_channel();
  if (hello_received_ && handler.finished()) return;
  fail(ErrorCode::CONNECTION_LOST, std::string("connection lost: ") + std::strerror(err));
}

// The TLS engine gave up after the handshake: a record failed to
// authenticate (altered in transit) or the server sent an alert. Never
// retried: a new connection through the same path would meet the same.
void Session::fail_channel() {
  const std::string why = connection_.tls_error();
  fail(ErrorCode::AUTH_FAILED,
       "the encrypted connection failed: " + (why.empty() ? std::string("TLS error") : why));
}

namespace {

// One server: connect, secure, run the session.
std::optional<Error> connect_once(const std::string& host, std::uint16_t port,
                                  SessionHandler& handler) {
  install_interrupt_handlers();
  const std::string where = host_port_text(host, port);
  const std::string seconds = std::to_string(kConnectTimeout.count()) + " s";
  const auto deadline = Clock::now() + kConnectTimeout;
  OpenFailure failure;
  auto connection = Connection::open(host, port, deadline, failure);
  if (interrupted()) return Error{ErrorCode::CANCELLED, {}, "interrupted"};
  if (!connection && failure.unresolved) {
    return Error{ErrorCode::UNKNOWN_HOST,
                 {},
                 "cannot resolve host '" + printable(host) + "': " + failure.why};
  }
  if (!connection) {
    if (failure.why == "timed out") failure.why = "no answer within " + seconds;
    return Error{ErrorCode::CONNECT_FAILED, {}, "cannot connect to " + where + ": " + failure.why};
  }
  if (auto context = key_context()) {
    if (auto error = secure(*connection, std::move(context), host, port, deadline)) return error;
  }
  Session session(std::move(*connection));
  session.expect_hello_by(deadline, "cannot connect to " + where +
                                        ": connected, but no ft hello within " + seconds +
                                        " (is ftserve listening there?)");
  return session.run(handler);
}

}  // namespace

std::optional<Error> connect_and_run(const std::string& host, std::uint16_t port,
                                     SessionHandler& handler) {
  const Endpoint first{host, port};
  const std::vector<Endpoint> servers = servers_in_turn(first);
  std::optional<Error> failure;
  for (const Endpoint& server : servers) {
    failure = connect_once(server.host, server.port, handler);
    if (!failure || servers.size() == 1 || failure->code == ErrorCode::CANCELLED) return failure;
    // The next connection, now or on the retry loop's next attempt, goes to
    // the next server: this one is down, draining, full or cut us off.
    server_failed(first, server);
    // Once a session ran, the retry loop decides (its delay, its count, its
    // resume rules); a server that could not be reached costs nothing.
    if (failure->code != ErrorCode::CONNECT_FAILED && failure->code != ErrorCode::UNKNOWN_HOST) {
      return failure;
    }
  }
  if (failure) {
    failure->code = ErrorCode::CONNECT_FAILED;
    failure->message = "none of the " + std::to_string(servers.size()) +
                       " servers answered; the last: " + failure->message;
  }
  return failure;
}

}  // namespace ft::client
