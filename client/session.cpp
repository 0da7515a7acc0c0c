#include "session.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

#include "interrupt.hpp"
#include "messages.hpp"
#include "path_rules.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

// Reads per wakeup before the loop gives writing (and the handler's
// producer) a turn again.
constexpr int kMaxReadsPerWakeup = 64;

}  // namespace

Session::Session(Connection connection)
    : connection_(std::move(connection)),
      decoder_(FrameDecoder::Options{.sender = Sender::kServer, .expect_hello = true}) {
  Bytes hello;
  encode_hello(hello, Hello{.capabilities = kCapResume | kCapTrees | kCapEager});
  connection_.queue(std::move(hello));
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
    if (failure_) break;
    if (hello_received_ && handler.finished()) return std::nullopt;

    pollfd p{connection_.fd(), POLLIN, 0};
    if (connection_.has_output() && !write_failed) p.events |= POLLOUT;
    auto idle_left = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_activity + kIdleTimeout - Clock::now());
    if (idle_left.count() <= 0) {
      fail(ErrorCode::CONNECTION_LOST, "connection lost: no reply from the server in " +
                                           std::to_string(kIdleTimeout.count()) + " s");
      break;
    }
    int n = ::poll(&p, 1, static_cast<int>(idle_left.count()));
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
      IoResult r = connection_.flush();
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
  for (int i = 0; i < kMaxReadsPerWakeup && !failure_; ++i) {
    IoResult r = connection_.receive(decoder_);
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
        fail(ErrorCode::PROTOCOL, "protocol error from the server: " + decoder_.error().reason);
        return;
      case DecodeStatus::kHello:
        hello_received_ = true;
        resume_agreed_ = (decoder_.hello().capabilities & kCapResume) != 0;
        trees_agreed_ = (decoder_.hello().capabilities & kCapTrees) != 0;
        eager_agreed_ = (decoder_.hello().capabilities & kCapEager) != 0;
        break;
      case DecodeStatus::kFrame: {
        Frame frame = decoder_.take_frame();
        if (frame.header.request_id != 0) {
          handler.on_frame(*this, frame);
          break;
        }
        // Only ERROR may carry id 0 (the decoder checks): the server gives up
        // on the whole connection.
        auto error = decode_error(frame.payload);
        if (!error) {
          protocol_error("the server sent a malformed ERROR frame");
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
  if (hello_received_ && handler.finished()) return;
  fail(ErrorCode::CONNECTION_LOST, std::string("connection lost: ") + std::strerror(err));
}

std::optional<Error> connect_and_run(const std::string& host, std::uint16_t port,
                                     SessionHandler& handler) {
  install_interrupt_handlers();
  std::string why;
  auto connection = Connection::open(host, port, std::chrono::milliseconds(kConnectTimeout), why);
  if (interrupted()) return Error{ErrorCode::CANCELLED, {}, "interrupted"};
  if (!connection) {
    return Error{ErrorCode::CONNECT_FAILED,
                 {},
                 "cannot connect to " + host_port_text(host, port) + ": " + why};
  }
  Session session(std::move(*connection));
  return session.run(handler);
}

}  // namespace ft::client
