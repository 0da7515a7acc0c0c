// Session's transport: accepting, reading, writing (through TLS when the
// server has keys: session_tls.cpp), the handshake deadline and idle
// timeout, and closing.
#include <cstdio>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "common/wire/frame_check.hpp"
#include "server/log/log.hpp"
#include "server/net/notice.hpp"
#include "server/net/server.hpp"
#include "server/net/session.hpp"

namespace ft::server {

int Session::accept_from(uv_stream_t* listener) {
  int rc = tcp_.init(server_.loop(), uv_tcp_init);
  if (rc == 0) rc = flush_check_.init(server_.loop(), uv_check_init);
  if (rc == 0) rc = timer_.init(server_.loop(), uv_timer_init);
  if (rc == 0) rc = pace_timer_.init(server_.loop(), uv_timer_init);
  if (rc == 0) {
    tcp_.set_data(this);
    flush_check_.set_data(this);
    timer_.set_data(this);
    pace_timer_.set_data(this);
    rc = uv_accept(listener, tcp_.stream());
  }
  if (rc != 0) {
    close_handles();
    return rc;
  }
  uv_tcp_nodelay(tcp_.get(), 1);
  uv_tcp_keepalive(tcp_.get(), 1, 60);
  struct sockaddr_storage address {};
  int length = sizeof address;
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<struct sockaddr*>(&address), &length) == 0) {
    peer_ = format_address(reinterpret_cast<struct sockaddr*>(&address));
    peer_host_ = format_host(reinterpret_cast<struct sockaddr*>(&address));
  } else {
    peer_.assign(1, '?');  // not = "?": GCC 12 -Wrestrict false positive
    peer_host_.assign(1, '?');
  }
  note_activity();
  if (any_contains(server_.options().proxy_from, peer_host_)) {
    // The balancer speaks first, for its client: the per-address cap and
    // the log wait for the address its header names.
    proxy_ = std::make_unique<ProxyHeaderParser>();
    const auto deadline = server_.options().handshake_timeout.count();
    if (deadline > 0) {
      uv_timer_start(timer_.get(), on_timer, static_cast<std::uint64_t>(deadline), 0);
    }
    update_reading();
    return 0;
  }
  admit_peer();
  return 0;
}

void Session::admit_peer() {
  if (!server_.admit_unauthenticated(this, peer_host_)) {
    std::string why = "too many unauthenticated connections from ";
    why += peer_host_;
    why += " (--max-unauthenticated-per-address ";
    why += std::to_string(server_.options().max_unauthenticated_per_address);
    why += ')';
    refuse(ErrorCode::SERVER_FULL, why);
    return;
  }
  counted_unauthenticated_ = true;
  const auto deadline = server_.options().handshake_timeout.count();
  if (deadline > 0) {
    uv_timer_start(timer_.get(), on_timer, static_cast<std::uint64_t>(deadline), 0);
  }
  update_reading();
}

void Session::note_activity() {
  last_activity_ = uv_now(server_.loop());
  received_since_progress_ = 0;
}

void Session::note_received(std::size_t bytes) {
  // A trickle is not progress: a peer sending a byte a second would hold its
  // slot for ever. Bytes count when they arrive at kMinProgressRate or
  // faster on average since the last progress (a complete frame counts
  // too: process_input).
  received_since_progress_ += bytes;
  const std::uint64_t elapsed_ms = uv_now(server_.loop()) - last_activity_;
  if (received_since_progress_ * 1000 >= kMinProgressRate * elapsed_ms) note_activity();
}

void Session::release_unauthenticated() {
  if (!counted_unauthenticated_) return;
  counted_unauthenticated_ = false;
  server_.release_unauthenticated(this, peer_host_);
}

// ---------------------------------------------------------------- reading

void Session::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  *buf = uv_buf_init(nullptr, 0);  // UV_ENOBUFS for on_read, should we fail
  try {
    if (self->proxy_) {
      // Exactly up to the header's end: the client's first bytes stay in
      // the socket for the TLS engine or the decoder.
      self->proxy_area_.resize(self->proxy_->max_read());
      *buf = uv_buf_init(reinterpret_cast<char*>(self->proxy_area_.data()),
                         static_cast<unsigned>(self->proxy_area_.size()));
      return;
    }
    if (self->server_.options().tls) {
      // Ciphertext lands in the session's buffer, then goes through the
      // engine. Before the handshake ends, no more than the pre-auth budget
      // is ever read.
      // While the memory budget is spent, no more than an allowance at a
      // time (the ciphertext waiting in the engine counts, as plaintext
      // does: account()).
      std::size_t want =
          self->server_.budget().tight() ? MemoryBudget::kAllowance : kCipherReadSize;
      if (!self->tls_ || !self->tls_->open()) {
        const std::size_t budget = self->server_.options().max_preauth_bytes;
        want = self->preauth_read_ < budget
                   ? std::min(kHandshakeReadSize, budget - self->preauth_read_)
                   : 0;
      }
      if (want == 0) return;  // UV_ENOBUFS: handle_read refuses the peer
      std::span<std::uint8_t> area = self->server_.cipher_read_area(want);
      *buf = uv_buf_init(reinterpret_cast<char*>(area.data()), static_cast<unsigned>(area.size()));
      return;
    }
    if (!self->decoder_) {
      self->decoder_ =
          std::make_unique<FrameDecoder>(FrameDecoder::Options{.sender = Sender::kClient});
    }
    // Receive straight into the decoder: for a large DATA payload that is
    // the buffer that will be hashed and written to disk.
    std::span<std::uint8_t> area = self->decoder_->write_area();
    // While the server's memory budget is spent, a payload grows by no more
    // than an allowance per read (handle_read then pauses past it).
    if (self->server_.budget().tight()) {
      area = area.first(std::min(area.size(), MemoryBudget::kAllowance));
    }
    *buf = uv_buf_init(reinterpret_cast<char*>(area.data()), static_cast<unsigned>(area.size()));
  } catch (...) {
    // Out of memory: on_read gets UV_ENOBUFS and closes the session.
  }
}

void Session::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  // A session closed in here is freed on a later turn, never under us.
  auto* self = static_cast<Session*>(stream->data);
  try {
    self->handle_read(nread, buf);
  } catch (const std::exception& e) {
    self->close(ErrorCode::INTERNAL, e.what(), true);
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "internal error", true);
  }
}

void Session::handle_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0 || closing()) return;  // 0 is EAGAIN, not end of stream
  if (nread == UV_ENOBUFS) {
    log::warn("peer=%s: no buffer for the connection (pre-auth limit)", peer_.c_str());
    close(ErrorCode::PROTOCOL, "too many bytes before the handshake ended", false);
    return;
  }
  if (nread < 0 && proxy_) {
    // A balancer's TCP health check connects and leaves without a byte:
    // worth a debug line only. A cut header is worth a warning.
    // finish() places a cut header's error at the bytes it had.
    if (proxy_->finish() == ProxyHeaderParser::Status::kError && proxy_->error_offset() > 0) {
      log::warn("peer=%s: %s, closing", peer_.c_str(), proxy_->error().c_str());
    } else {
      log::debug("peer=%s: left before its PROXY header", peer_.c_str());
    }
    close(ErrorCode::CONNECTION_LOST, "the balancer closed the connection", false);
    return;
  }
  if (nread < 0) {
    // A stream cut mid-frame is a lost connection, not a misbehaving
    // client: the log says so and resumable uploads keep their data.
    if (decoder_) (void)decoder_->finish();
    close(ErrorCode::CONNECTION_LOST,
          nread == UV_EOF ? "client closed the connection" : uv_strerror(static_cast<int>(nread)),
          false);
    return;
  }
  note_received(static_cast<std::size_t>(nread));
  count_traffic(static_cast<std::size_t>(nread), 0);
  pace(BandwidthPacer::Direction::kIn, static_cast<std::size_t>(nread));
  const ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(buf->base),
                       static_cast<std::size_t>(nread));
  if (proxy_) return handle_proxy_header(bytes);
  if (first_read_) {
    first_read_ = false;
    if (refuse_unexpected_proxy_header(bytes)) return;
  }
  if (server_.options().tls) {
    // The server's shared read area: the engine copies what it keeps.
    handle_ciphertext(ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base),
                               static_cast<std::size_t>(nread)));
  } else {
    decoder_->commit(static_cast<std::size_t>(nread));
    process_input();
    // Bytes of a payload still arriving are held too.
    account();
    if (over_budget()) update_reading();
  }
  // Past --bwlimit: stop reading until the pace timer says.
  if (server_.pacer().enabled() && !closing() && reading_) update_reading();
}

// ---------------------------------------------------------------- writing

void Session::send_frame(Bytes frame) {
  if (closing()) return;
  if (frame_check_) frame = add_frame_checks(frame);
  // Replies made during one turn of the loop leave in one write: with many
  // small files in flight, a write per PUT_READY and per OK was a quarter
  // of the server's time.
  if (!outbox_.empty()) return append_to_outbox(frame, {});
  send_backlog_ += frame.size();
  outbox_ = std::move(frame);
  arm_flush();
}

void Session::append_to_outbox(ByteSpan first, ByteSpan second) {
  send_backlog_ += first.size() + second.size();
  outbox_.insert(outbox_.end(), first.begin(), first.end());
  outbox_.insert(outbox_.end(), second.begin(), second.end());
  // A turn of the loop that completes hundreds of small downloads sends
  // them in writes of this size, not one buffer of megabytes.
  if (outbox_.size() >= kOutboxFlushAt) flush_outbox();
  arm_flush();
}

void Session::arm_flush() {
  account();
  arm_flush_check();
  if (send_backlog_ > kReplyHighWater) update_reading();
}

void Session::arm_flush_check() {
  if (flush_armed_) return;
  uv_check_start(flush_check_.get(), on_flush_check);
  flush_armed_ = true;
}

void Session::wake_listings_later() {
  if (listings_waiting_.empty() || wake_listings_ || closing()) return;
  wake_listings_ = true;
  arm_flush_check();
}

void Session::on_flush_check(uv_check_t* check) noexcept {
  auto* self = static_cast<Session*>(check->data);
  uv_check_stop(check);
  self->flush_armed_ = false;
  try {
    self->flush_outbox();
    if (self->wake_listings_) {
      self->wake_listings_ = false;
      self->start_waiting_listings();
    }
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "out of memory", false);
  }
}

void Session::flush_outbox() {
  if (outbox_.empty() || closing()) return;
  auto request = std::make_unique<WriteRequest>();
  request->head = std::move(outbox_);
  outbox_.clear();
  std::size_t size = request->size();  // already counted in send_backlog_
  // Write callbacks run before the TCP handle's close callback, and the
  // session outlives that: `this` is safe in them.
  request->on_written = [this, size](int status) {
    if (status == 0) note_activity();
    bool was_high = send_backlog_ > send_low_water();
    send_backlog_ -= size;
    account();
    // Small files' DATA travel here too (send_data): downloads and listings
    // waiting for room are woken as by the write of a chunk of their own.
    if ((was_high || waiting_for_room()) && send_backlog_ <= send_low_water()) {
      on_send_drained();
    }
  };
  if (transmit(std::move(request)) != 0) {
    send_backlog_ -= size;
    account();
  }
}

void Session::add_read_ahead(std::size_t bytes) {
  read_ahead_ += bytes;
  account();
}

void Session::remove_read_ahead(std::size_t bytes) {
  read_ahead_ -= bytes;
  account();
  // A read that failed never reaches the queue, whose drain would wake the
  // downloads waiting on it.
  if (waiting_for_room() && send_backlog_ <= send_low_water()) return on_send_drained();
  // A listing refused while small downloads read ahead (above the low mark
  // of the queue) is tried again at the end of the turn, when the memory
  // it counted on may be back (the stall of PACED listings).
  wake_listings_later();
}

void Session::on_send_drained() {
  if (closing()) return;
  // Only the requests that stopped for the queue: with a thousand requests
  // in flight, waking (and copying) them all per written chunk was work on
  // the loop for nothing.
  std::vector<std::weak_ptr<Request>> waiters;
  waiters.swap(writable_waiters_);
  for (auto& weak : waiters) {
    if (auto request = weak.lock()) request->on_writable();
  }
  start_waiting_listings();
  update_reading();
}

void Session::send_data(std::uint32_t id, std::uint64_t offset, std::uint64_t chunk_hash,
                        std::shared_ptr<Bytes> body, std::size_t length, std::uint8_t flags) {
  if (closing()) return;
  if (length <= kInlineDataMax) {
    // A small file's chunk is copied behind the replies of this turn of
    // the loop (its GET_READY, the END of the file before): a restore of
    // many small files then costs a write per turn, not two per file.
    std::uint8_t head[kDataHeadSize];
    encode_data_head(head, id, offset, chunk_hash, static_cast<std::uint32_t>(length), flags);
    const ByteSpan chunk(body->data(), length);
    if (frame_check_) return append_to_outbox(add_data_head_check(ByteSpan(head)), chunk);
    return append_to_outbox(ByteSpan(head), chunk);
  }
  flush_outbox();  // replies queued before this DATA go first
  auto request = std::make_unique<WriteRequest>();
  request->head.resize(kDataHeadSize);
  encode_data_head(request->head.data(), id, offset, chunk_hash, static_cast<std::uint32_t>(length),
                   flags);
  if (frame_check_) request->head = add_data_head_check(request->head);
  request->body = std::move(body);
  request->body_length = length;
  std::size_t size = request->size();  // plaintext: what the backlog counts
  send_backlog_ += size;
  account();
  request->on_written = [this, size](int status) {
    if (status == 0) note_activity();
    send_backlog_ -= size;
    account();
    if (send_backlog_ <= send_low_water()) on_send_drained();
  };
  if (transmit(std::move(request)) != 0) {
    send_backlog_ -= size;
    account();
  }
}

// ---------------------------------------------------------------- pacing

bool Session::paced(BandwidthPacer::Direction direction) {
  BandwidthPacer& pacer = server_.pacer();
  if (!pacer.enabled() || !authenticated() || closing()) return false;
  const auto now =
      BandwidthPacer::Clock::time_point(std::chrono::milliseconds(uv_now(server_.loop())));
  if (pacer.ready(direction, access_.identity, now)) return false;
  const auto wait = std::max<std::int64_t>(pacer.wait(direction, access_.identity, now).count(), 1);
  // One timer serves both directions: the earlier end wins, and the
  // callback re-checks both.
  const std::uint64_t due = uv_timer_get_due_in(pace_timer_.get());
  const bool active = uv_is_active(reinterpret_cast<uv_handle_t*>(pace_timer_.get())) != 0;
  if (!active || due > static_cast<std::uint64_t>(wait)) {
    uv_timer_start(pace_timer_.get(), on_pace_timer, static_cast<std::uint64_t>(wait), 0);
  }
  return true;
}

void Session::pace(BandwidthPacer::Direction direction, std::size_t bytes) {
  BandwidthPacer& pacer = server_.pacer();
  if (!pacer.enabled() || !authenticated()) return;
  const auto now =
      BandwidthPacer::Clock::time_point(std::chrono::milliseconds(uv_now(server_.loop())));
  pacer.take(direction, access_.identity, bytes, now);
}

void Session::on_pace_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Session*>(timer->data);
  try {
    // The downloads that waited for their turn try again (may_buffer()),
    // and reading resumes if the inbound bucket allows (update_reading()).
    if (!self->closing()) self->on_send_drained();
  } catch (const std::exception& e) {
    self->close(ErrorCode::INTERNAL, e.what(), true);
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "internal error", true);
  }
}

// ---------------------------------------------------------------- deadlines

void Session::on_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Session*>(timer->data);
  try {
    self->check_deadline();
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "internal error", false);
  }
}

void Session::hello_received() {
  enter(Phase::kServing);
  release_unauthenticated();
  note_activity();
  const auto idle = server_.options().idle_timeout.count();
  if (idle > 0) {
    uv_timer_start(timer_.get(), on_timer, static_cast<std::uint64_t>(idle), 0);
  } else {
    uv_timer_stop(timer_.get());
  }
}

void Session::check_deadline() {
  if (closing()) return;
  const std::uint64_t now = uv_now(server_.loop());
  if (phase_ != Phase::kServing) {
    log::info("peer=%s: handshake not completed within %lld ms", peer_.c_str(),
              static_cast<long long>(server_.options().handshake_timeout.count()));
    close(ErrorCode::TIMEOUT, "handshake not completed in time", true);
    return;
  }
  const auto idle = static_cast<std::uint64_t>(server_.options().idle_timeout.count());
  if (idle == 0) return;
  // Progress the write callbacks cannot show: a slow reader taking a large
  // write bit by bit, and disk work the connection waits for.
  // The same floor for a reader that takes a byte at a time: the queue must
  // have shrunk at kMinProgressRate since the last progress.
  const std::size_t queued = tcp_.get()->write_queue_size;
  if (queued > last_write_queue_) {
    last_write_queue_ = queued;  // we queued more: a new baseline, not progress
  } else if (const std::uint64_t drained = last_write_queue_ - queued;
             drained > 0 && drained * 1000 >= kMinProgressRate * (now - last_activity_)) {
    last_write_queue_ = queued;
    last_activity_ = now;
  }
  // Only work actually running counts: data merely queued (an eager PUT's
  // DATA waiting for its END, which the client never sends) is not progress,
  // so such a connection is closed and its memory freed.
  bool on_disk = false;
  for (const auto& [id, request] : requests_) on_disk = on_disk || request->waiting_on_disk();
  // A pause --bwlimit imposes is not the peer's silence either.
  const bool pacing = uv_is_active(reinterpret_cast<uv_handle_t*>(pace_timer_.get())) != 0;
  if (on_disk || pacing) last_activity_ = now;
  const std::uint64_t due = last_activity_ + idle;
  if (now >= due) {
    log::info("peer=%s: no progress for %llu ms, closing", peer_.c_str(),
              static_cast<unsigned long long>(now - last_activity_));
    std::string why = "no progress for ";
    why += std::to_string(idle);
    why += " ms";
    close(ErrorCode::TIMEOUT, why, true);
    return;
  }
  uv_timer_start(timer_.get(), on_timer, due - now, 0);
}

// ---------------------------------------------------------------- closing

void Session::refuse(ErrorCode code, const std::string& message) {
  write_last_words(tcp_.stream(), plaintext_notice(code, message));
  close(code, message, false);
}

void Session::close(ErrorCode code, const std::string& message, bool notify) {
  if (closing()) return;
  // Replies still in the outbox, then the reason: best effort and without
  // queueing, since the connection is going away. A TLS server speaks in
  // plaintext only in notices, so before the handshake it says nothing.
  Bytes plain = std::move(outbox_);
  outbox_.clear();
  const bool tls_mode = server_.options().tls != nullptr;
  if (notify && (!tls_mode || (tls_ && tls_->open()))) {
    if (phase_ != Phase::kServing) encode_hello(plain, Hello{});
    Bytes error;
    encode_error(error, 0, ErrorMsg{static_cast<std::uint16_t>(code), "", message});
    if (frame_check_) error = add_frame_checks(error);
    plain.insert(plain.end(), error.begin(), error.end());
  }
  Bytes wire;
  if (tls_) {
    if (tls_->open()) {
      if (!plain.empty()) tls_->write(plain);
      tls_->close();
    }
    tls_->take_pending(wire);
  } else if (!tls_mode) {
    wire = std::move(plain);
  }
  write_last_words(tcp_.stream(), wire);
  enter(Phase::kClosing);
  server_.budget().forget(this);
  release_unauthenticated();
  auto requests = std::move(requests_);
  requests_.clear();
  request_charges_.clear();
  requests_charge_ = 0;
  for (auto& [id, request] : requests) request->abort(code, false);
  // Waiting listings hold their request, whose ContextRef keeps this
  // session's memory: drop them, or it is never freed.
  listings_waiting_.clear();
  stat_batcher_.clear();
  if (reading_) uv_read_stop(tcp_.stream());
  reading_ = false;
  close_handles();
}

void Session::close_handles() {
  if (phase_ != Phase::kClosing) enter(Phase::kClosing);
  // Called once per session: from here on its slot is free for a new
  // connection (its descriptor goes with the close callback).
  server_.connection_closed(this);
  flush_check_.close();
  timer_.close();
  pace_timer_.close();
  // The TCP handle's close callback comes after its last write callback:
  // from then on nothing of libuv's refers to this session.
  tcp_.close(on_tcp_closed, this);
}

void Session::on_tcp_closed(void* session) noexcept {
  auto* self = static_cast<Session*>(session);
  self->handles_closed_ = true;
  if (self->freeable()) self->server_.retire(self);
}

void Session::references_dropped() {
  if (freeable()) server_.retire(this);
}

}  // namespace ft::server
