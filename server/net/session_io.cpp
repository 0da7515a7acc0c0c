// Session's transport: accepting, reading, writing (through TLS when the
// server has keys), the handshake deadline and idle timeout, and closing.
#include <cstdio>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "server/net/notice.hpp"
#include "server/net/server.hpp"
#include "server/net/session.hpp"

namespace ft::server {

int Session::accept_from(uv_stream_t* listener) {
  uv_tcp_init(server_.loop(), &tcp_);
  tcp_.data = this;
  uv_check_init(server_.loop(), &flush_check_);
  flush_check_.data = this;
  uv_timer_init(server_.loop(), &timer_);
  timer_.data = this;
  open_handles_ = 3;
  self_ = shared_from_this();
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_));
  if (rc != 0) {
    closing_ = true;
    for (auto* handle :
         {reinterpret_cast<uv_handle_t*>(&tcp_), reinterpret_cast<uv_handle_t*>(&flush_check_),
          reinterpret_cast<uv_handle_t*>(&timer_)}) {
      uv_close(handle, on_closed);
    }
    return rc;
  }
  uv_tcp_nodelay(&tcp_, 1);
  uv_tcp_keepalive(&tcp_, 1, 60);
  struct sockaddr_storage address {};
  int length = sizeof address;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<struct sockaddr*>(&address), &length) == 0) {
    peer_ = format_address(reinterpret_cast<struct sockaddr*>(&address));
    peer_host_ = format_host(reinterpret_cast<struct sockaddr*>(&address));
  } else {
    peer_.assign(1, '?');  // not = "?": GCC 12 -Wrestrict false positive
    peer_host_.assign(1, '?');
  }
  note_activity();
  if (!server_.admit_unauthenticated(peer_host_)) {
    std::string why = "too many unauthenticated connections from ";
    why += peer_host_;
    why += " (--max-unauthenticated-per-address ";
    why += std::to_string(server_.options().max_unauthenticated_per_address);
    why += ')';
    refuse(ErrorCode::SERVER_FULL, why);
    return 0;
  }
  counted_unauthenticated_ = true;
  const auto deadline = server_.options().handshake_timeout.count();
  if (deadline > 0) {
    uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(deadline), 0);
  }
  update_reading();
  return 0;
}

void Session::note_activity() {
  last_activity_ = uv_now(server_.loop());
}

void Session::release_unauthenticated() {
  if (!counted_unauthenticated_) return;
  counted_unauthenticated_ = false;
  server_.release_unauthenticated(peer_host_);
}

// ---------------------------------------------------------------- reading

void Session::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  *buf = uv_buf_init(nullptr, 0);  // UV_ENOBUFS for on_read, should we fail
  try {
    if (self->server_.options().tls) {
      // Ciphertext lands in the session's buffer, then goes through the
      // engine. Before the handshake ends, no more than the pre-auth budget
      // is ever read.
      std::size_t want = kCipherReadSize;
      if (!self->tls_ || !self->tls_->open()) {
        const std::size_t budget = self->server_.options().max_preauth_bytes;
        want = self->preauth_read_ < budget
                   ? std::min(kHandshakeReadSize, budget - self->preauth_read_)
                   : 0;
      }
      if (self->cipher_in_.size() < want) self->cipher_in_.resize(want);
      *buf = uv_buf_init(reinterpret_cast<char*>(self->cipher_in_.data()),
                         static_cast<unsigned>(want));
      return;
    }
    if (!self->decoder_) {
      self->decoder_ =
          std::make_unique<FrameDecoder>(FrameDecoder::Options{.sender = Sender::kClient});
    }
    // Receive straight into the decoder: for a large DATA payload that is
    // the buffer that will be hashed and written to disk.
    std::span<std::uint8_t> area = self->decoder_->write_area();
    *buf = uv_buf_init(reinterpret_cast<char*>(area.data()), static_cast<unsigned>(area.size()));
  } catch (...) {
    // Out of memory: on_read gets UV_ENOBUFS and closes the session.
  }
}

void Session::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
  auto* self = static_cast<Session*>(stream->data);
  std::shared_ptr<Session> keep = self->shared_from_this();
  try {
    self->handle_read(nread);
  } catch (const std::exception& e) {
    self->close(ErrorCode::INTERNAL, e.what(), true);
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "internal error", true);
  }
}

void Session::handle_read(ssize_t nread) {
  if (nread == 0 || closing_) return;  // 0 is EAGAIN, not end of stream
  if (nread == UV_ENOBUFS) {
    std::fprintf(stderr, "ftserve: peer=%s: no buffer for the connection (pre-auth limit)\n",
                 peer_.c_str());
    close(ErrorCode::PROTOCOL, "too many bytes before the handshake ended", false);
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
  note_activity();
  if (server_.options().tls) {
    handle_ciphertext(ByteSpan(cipher_in_.data(), static_cast<std::size_t>(nread)));
    return;
  }
  decoder_->commit(static_cast<std::size_t>(nread));
  process_input();
}

void Session::handle_ciphertext(ByteSpan bytes) {
  if (!tls_) {
    if (bytes[0] == kMagic[0]) {
      // A plain ft client: tell it why, in its own protocol.
      std::fprintf(stderr, "ftserve: peer=%s: plain ft client refused: a key is required\n",
                   peer_.c_str());
      refuse(ErrorCode::AUTH_REQUIRED, "this server requires a key: use --key-file");
      return;
    }
    if (bytes[0] != 0x16) {  // not a TLS handshake record
      std::fprintf(stderr, "ftserve: peer=%s: neither TLS nor ft (first byte 0x%02x)\n",
                   peer_.c_str(), bytes[0]);
      close(ErrorCode::PROTOCOL, "not a TLS client", false);
      return;
    }
    tls_ = std::make_unique<TlsEngine>(server_.options().tls);
  }
  const bool was_open = tls_->open();
  if (!was_open) preauth_read_ += bytes.size();
  if (!tls_->feed(bytes)) {
    tls_failed(was_open ? "TLS" : "TLS handshake");
    return;
  }
  flush_tls();
  if (closing_) return;
  if (!was_open && tls_->open()) {
    begin_authentication();
  } else if (authenticated_) {
    drain_plaintext();
  }
  if (!closing_ && !tls_->open() && preauth_read_ >= server_.options().max_preauth_bytes) {
    std::fprintf(stderr, "ftserve: peer=%s: more than %zu bytes without completing the handshake\n",
                 peer_.c_str(), server_.options().max_preauth_bytes);
    close(ErrorCode::PROTOCOL, "handshake too long", false);
  }
}

void Session::tls_failed(const char* when) {
  // The engine's error names the stage already ("TLS handshake failed: ...").
  if (tls_->error().empty()) {
    std::fprintf(stderr, "ftserve: peer=%s: %s failed\n", peer_.c_str(), when);
  } else {
    std::fprintf(stderr, "ftserve: peer=%s: %s\n", peer_.c_str(), tls_->error().c_str());
  }
  // The alert that tells the peer why, best effort; then nothing more.
  Bytes alert;
  tls_->take_pending(alert);
  write_last_words(reinterpret_cast<uv_stream_t*>(&tcp_), alert);
  close(ErrorCode::PROTOCOL, tls_->error(), false);
}

void Session::drain_plaintext() {
  if (draining_ || !authenticated_ || !tls_) return;
  draining_ = true;
  while (!closing_ && !paused_) {
    process_input();  // what the decoder already holds goes first
    if (closing_ || paused_) break;
    std::span<std::uint8_t> area = decoder_->write_area();
    if (area.empty()) break;
    std::size_t n = tls_->read(area);
    if (n == 0) break;
    decoder_->commit(n);
  }
  draining_ = false;
  if (closing_) return;
  if (tls_->state() == TlsEngine::State::kFailed) {
    tls_failed("TLS");
    return;
  }
  flush_tls();
}

void Session::begin_authentication() {
  const KeyEntry* entry = server_.find_key(tls_->peer_identity());
  if (entry == nullptr) {
    // The engine only completes handshakes for known identities.
    std::fprintf(stderr, "ftserve: peer=%s: unknown identity after the handshake\n", peer_.c_str());
    close(ErrorCode::INTERNAL, "unknown identity", false);
    return;
  }
  if (int root = server_.identity_root(*entry); root >= 0) {
    finish_authentication(*entry, root);
    return;
  }
  // The identity's directory is opened (or created) on the thread pool;
  // nothing is read meanwhile.
  authenticating_ = true;
  update_reading();
  std::weak_ptr<Session> weak = weak_from_this();
  server_.open_identity_root(*entry, [weak, entry](int err) {
    auto self = weak.lock();
    if (!self || self->closing_) return;
    self->authenticating_ = false;
    try {
      int root = self->server_.identity_root(*entry);
      if (err != 0 || root < 0) {
        std::fprintf(stderr, "ftserve: peer=%s: identity %s: cannot open its directory %s: %s\n",
                     self->peer_.c_str(), entry->name.c_str(), printable(entry->subdir).c_str(),
                     std::strerror(err != 0 ? err : ENOENT));
        self->close(ErrorCode::INTERNAL, "cannot open this identity's directory", true);
        return;
      }
      self->finish_authentication(*entry, root);
    } catch (...) {
      self->close(ErrorCode::INTERNAL, "internal error", true);
    }
  });
}

void Session::finish_authentication(const KeyEntry& entry, int root_fd) {
  access_.identity = entry.name;
  access_.rights = effective_rights(entry.rights, server_.options());
  access_.root_fd = root_fd;
  authenticated_ = true;
  // The name, never the key or the id (the id is sent in the clear anyway,
  // but the name is what the administrator knows).
  std::fprintf(stderr, "ftserve: peer=%s authenticated as %s rights=%s subdir=%s\n", peer_.c_str(),
               entry.name.c_str(), format_rights(access_.rights).c_str(),
               entry.subdir.empty() ? "-" : printable(entry.subdir).c_str());
  if (!decoder_) {
    decoder_ = std::make_unique<FrameDecoder>(FrameDecoder::Options{.sender = Sender::kClient});
  }
  update_reading();
  drain_plaintext();
}

// ---------------------------------------------------------------- writing

void Session::flush_tls() {
  if (!tls_ || closing_ || tls_->pending() == 0) return;
  auto request = std::make_unique<WriteRequest>();
  request->head.reserve(tls_->pending());
  tls_->take_pending(request->head);
  std::weak_ptr<Session> weak = weak_from_this();
  request->on_written = [weak](int status) {
    auto self = weak.lock();
    if (self && status == 0) self->note_activity();
  };
  (void)start_write(reinterpret_cast<uv_stream_t*>(&tcp_), std::move(request));
}

int Session::transmit(std::unique_ptr<WriteRequest> request) {
  if (tls_) {
    // One engine write per piece: the 1 MiB body of a DATA becomes full
    // records in one call, and the ciphertext replaces the plaintext.
    if (!tls_->open()) return UV_EPIPE;
    bool ok = tls_->write(request->head);
    if (ok && request->body && request->body_length > 0) {
      ok =
          tls_->write(ByteSpan(request->body->data() + request->body_offset, request->body_length));
    }
    if (!ok) return UV_EPROTO;
    // The engine swaps its filled buffer for ours: a recycled one keeps
    // its capacity for the next records.
    Bytes cipher;
    if (!cipher_pool_.empty()) {
      cipher = std::move(cipher_pool_.back());
      cipher_pool_.pop_back();
    }
    tls_->take_pending(cipher);
    auto buffer = std::make_shared<Bytes>(std::move(cipher));
    request->head.clear();
    request->body = buffer;
    request->body_offset = 0;
    request->body_length = buffer->size();
    std::weak_ptr<Session> weak = weak_from_this();
    request->on_written = [weak, buffer, done = std::move(request->on_written)](int status) {
      if (done) done(status);
      if (auto self = weak.lock()) self->recycle_cipher(std::move(*buffer));
    };
  } else if (server_.options().tls) {
    return UV_EPIPE;  // never plaintext on a TLS server
  }
  return start_write(reinterpret_cast<uv_stream_t*>(&tcp_), std::move(request));
}

void Session::recycle_cipher(Bytes&& buffer) {
  constexpr std::size_t kPoolSize = 2;
  constexpr std::size_t kLargest = 2 * (limits::kMaxDataPayload + limits::kFrameHeaderSize);
  if (closing_ || cipher_pool_.size() >= kPoolSize || buffer.capacity() > kLargest) return;
  buffer.clear();
  cipher_pool_.push_back(std::move(buffer));
}

void Session::send_frame(Bytes frame) {
  if (closing_) return;
  // Replies made during one turn of the loop leave in one write: with many
  // small files in flight, a write per PUT_READY and per OK was a quarter
  // of the server's time.
  send_backlog_ += frame.size();
  if (outbox_.empty()) {
    outbox_ = std::move(frame);
  } else {
    outbox_.insert(outbox_.end(), frame.begin(), frame.end());
  }
  if (!flush_armed_) {
    uv_check_start(&flush_check_, on_flush_check);
    flush_armed_ = true;
  }
  if (send_backlog_ > kReplyHighWater) update_reading();
}

void Session::on_flush_check(uv_check_t* check) noexcept {
  auto* self = static_cast<Session*>(check->data);
  uv_check_stop(check);
  self->flush_armed_ = false;
  try {
    self->flush_outbox();
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "out of memory", false);
  }
}

void Session::flush_outbox() {
  if (outbox_.empty() || closing_) return;
  auto request = std::make_unique<WriteRequest>();
  request->head = std::move(outbox_);
  outbox_.clear();
  std::size_t size = request->size();  // already counted in send_backlog_
  std::weak_ptr<Session> weak = weak_from_this();
  request->on_written = [weak, size](int status) {
    if (auto self = weak.lock()) {
      if (status == 0) self->note_activity();
      bool was_high = self->send_backlog_ > kSendLowWater;
      self->send_backlog_ -= size;
      if (was_high && self->send_backlog_ <= kSendLowWater) self->on_send_drained();
    }
  };
  if (transmit(std::move(request)) != 0) send_backlog_ -= size;
}

void Session::remove_read_ahead(std::size_t bytes) {
  read_ahead_ -= bytes;
  // A read that failed never reaches the queue, whose drain would wake the
  // downloads waiting on it.
  if (!writable_waiters_.empty() && send_backlog_ <= kSendLowWater) on_send_drained();
}

void Session::on_send_drained() {
  if (closing_) return;
  // Only the requests that stopped for the queue: with a thousand requests
  // in flight, waking (and copying) them all per written chunk was work on
  // the loop for nothing.
  std::vector<std::weak_ptr<Request>> waiters;
  waiters.swap(writable_waiters_);
  for (auto& weak : waiters) {
    if (auto request = weak.lock()) request->on_writable();
  }
  update_reading();
}

void Session::send_data(std::uint32_t id, std::uint64_t offset, std::uint64_t chunk_hash,
                        std::shared_ptr<Bytes> body, std::size_t length) {
  if (closing_) return;
  flush_outbox();  // replies queued before this DATA go first
  auto request = std::make_unique<WriteRequest>();
  request->head.resize(kDataHeadSize);
  encode_data_head(request->head.data(), id, offset, chunk_hash,
                   static_cast<std::uint32_t>(length));
  request->body = std::move(body);
  request->body_length = length;
  std::size_t size = request->size();  // plaintext: what the backlog counts
  send_backlog_ += size;
  std::weak_ptr<Session> weak = weak_from_this();
  request->on_written = [weak, size](int status) {
    if (auto self = weak.lock()) {
      if (status == 0) self->note_activity();
      self->send_backlog_ -= size;
      if (self->send_backlog_ <= kSendLowWater) self->on_send_drained();
    }
  };
  if (transmit(std::move(request)) != 0) send_backlog_ -= size;
}

// ---------------------------------------------------------------- deadlines

void Session::on_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Session*>(timer->data);
  std::shared_ptr<Session> keep = self->shared_from_this();
  try {
    self->check_deadline();
  } catch (...) {
    self->close(ErrorCode::INTERNAL, "internal error", false);
  }
}

void Session::hello_received() {
  hello_received_ = true;
  release_unauthenticated();
  note_activity();
  const auto idle = server_.options().idle_timeout.count();
  if (idle > 0) {
    uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(idle), 0);
  } else {
    uv_timer_stop(&timer_);
  }
}

void Session::check_deadline() {
  if (closing_) return;
  const std::uint64_t now = uv_now(server_.loop());
  if (!hello_received_) {
    std::fprintf(stderr, "ftserve: peer=%s: handshake not completed within %lld ms\n",
                 peer_.c_str(),
                 static_cast<long long>(server_.options().handshake_timeout.count()));
    close(ErrorCode::TIMEOUT, "handshake not completed in time", true);
    return;
  }
  const auto idle = static_cast<std::uint64_t>(server_.options().idle_timeout.count());
  if (idle == 0) return;
  // Progress the write callbacks cannot show: a slow reader taking a large
  // write bit by bit, and disk work the connection waits for.
  if (tcp_.write_queue_size != last_write_queue_) {
    last_write_queue_ = tcp_.write_queue_size;
    last_activity_ = now;
  }
  bool on_disk = disk_backlog_ > 0;
  for (const auto& [id, request] : requests_) on_disk = on_disk || request->waiting_on_disk();
  if (on_disk) last_activity_ = now;
  const std::uint64_t due = last_activity_ + idle;
  if (now >= due) {
    std::fprintf(stderr, "ftserve: peer=%s: no progress for %llu ms, closing\n", peer_.c_str(),
                 static_cast<unsigned long long>(now - last_activity_));
    std::string why = "no progress for ";
    why += std::to_string(idle);
    why += " ms";
    close(ErrorCode::TIMEOUT, why, true);
    return;
  }
  uv_timer_start(&timer_, on_timer, due - now, 0);
}

// ---------------------------------------------------------------- closing

void Session::refuse(ErrorCode code, const std::string& message) {
  write_last_words(reinterpret_cast<uv_stream_t*>(&tcp_), plaintext_notice(code, message));
  close(code, message, false);
}

void Session::close(ErrorCode code, const std::string& message, bool notify) {
  if (closing_) return;
  // Replies still in the outbox, then the reason: best effort and without
  // queueing, since the connection is going away. A TLS server speaks in
  // plaintext only in notices, so before the handshake it says nothing.
  Bytes plain = std::move(outbox_);
  outbox_.clear();
  const bool tls_mode = server_.options().tls != nullptr;
  if (notify && (!tls_mode || (tls_ && tls_->open()))) {
    if (!hello_sent_) encode_hello(plain, Hello{});
    encode_error(plain, 0, ErrorMsg{static_cast<std::uint16_t>(code), "", message});
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
  write_last_words(reinterpret_cast<uv_stream_t*>(&tcp_), wire);
  closing_ = true;
  release_unauthenticated();
  auto requests = std::move(requests_);
  requests_.clear();
  for (auto& [id, request] : requests) request->abort(code, false);
  // Waiting listings hold their request, which holds this session: drop
  // them, or neither is ever freed.
  listings_waiting_.clear();
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
  for (auto* handle :
       {reinterpret_cast<uv_handle_t*>(&tcp_), reinterpret_cast<uv_handle_t*>(&flush_check_),
        reinterpret_cast<uv_handle_t*>(&timer_)}) {
    if (!uv_is_closing(handle)) uv_close(handle, on_closed);
  }
}

void Session::on_closed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  if (--self->open_handles_ > 0) return;
  std::shared_ptr<Session> keep = std::move(self->self_);
  self->server_.session_closed(self);
}

}  // namespace ft::server
