#include "session.hpp"

#include <cstdio>

#include "download.hpp"
#include "listing.hpp"
#include "path_rules.hpp"
#include "server.hpp"
#include "tree_request.hpp"
#include "upload.hpp"

namespace ft::server {

Session::Session(Server& server)
    : server_(server), decoder_(FrameDecoder::Options{.sender = Sender::kClient}) {}

Session::~Session() = default;

uv_loop_t* Session::loop() const {
  return server_.loop();
}
int Session::root_fd() const {
  return server_.root_fd();
}

int Session::accept_from(uv_stream_t* listener) {
  uv_tcp_init(server_.loop(), &tcp_);
  tcp_.data = this;
  uv_check_init(server_.loop(), &flush_check_);
  flush_check_.data = this;
  open_handles_ = 2;
  self_ = shared_from_this();
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_));
  if (rc != 0) {
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), on_closed);
    return rc;
  }
  uv_tcp_nodelay(&tcp_, 1);
  uv_tcp_keepalive(&tcp_, 1, 60);
  struct sockaddr_storage address {};
  int length = sizeof address;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<struct sockaddr*>(&address), &length) == 0) {
    peer_ = format_address(reinterpret_cast<struct sockaddr*>(&address));
  } else {
    peer_ = "?";
  }
  update_reading();
  return 0;
}

void Session::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  // Receive straight into the decoder: for a large DATA payload that is the
  // buffer that will be hashed and written to disk.
  std::span<std::uint8_t> area = self->decoder_.write_area();
  *buf = uv_buf_init(reinterpret_cast<char*>(area.data()), static_cast<unsigned>(area.size()));
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
  if (nread < 0) {
    // A stream cut mid-frame is a lost connection, not a misbehaving
    // client: the log says so and resumable uploads keep their data.
    (void)decoder_.finish();
    close(ErrorCode::CONNECTION_LOST,
          nread == UV_EOF ? "client closed the connection" : uv_strerror(static_cast<int>(nread)),
          false);
    return;
  }
  decoder_.commit(static_cast<std::size_t>(nread));
  process_input();
}

void Session::process_input() {
  while (!closing_ && !paused_) {
    DecodeStatus status = decoder_.next();
    if (status == DecodeStatus::kNeedMore) return;
    if (status == DecodeStatus::kError) {
      const DecodeError& e = decoder_.error();
      if (e.kind == DecodeErrorKind::kBadMagic) {
        // Not an ft client: answer nothing, as docs/protocol.md says.
        std::fprintf(stderr, "ftserve: %s: %s\n", peer_.c_str(), e.reason.c_str());
        close(ErrorCode::PROTOCOL, e.reason, false);
      } else if (e.kind == DecodeErrorKind::kWrongVersion) {
        Bytes out;
        encode_hello(out, Hello{});
        encode_error(
            out, 0,
            ErrorMsg{static_cast<std::uint16_t>(ErrorCode::UNSUPPORTED_VERSION), "", e.reason});
        send_frame(std::move(out));
        close(ErrorCode::UNSUPPORTED_VERSION, e.reason, false);
      } else {
        fail_protocol(e.reason + " at byte " + std::to_string(e.offset));
      }
      return;
    }
    if (status == DecodeStatus::kHello) {
      const Hello& theirs = decoder_.hello();
      Hello ours;
      ours.version_min = ours.version_max = kProtocolVersion;
      ours.capabilities = theirs.capabilities & kKnownCapabilities;
      resume_ = (ours.capabilities & kCapResume) != 0;
      trees_ = (ours.capabilities & kCapTrees) != 0;
      eager_ = (ours.capabilities & kCapEager) != 0;
      Bytes out;
      encode_hello(out, ours);
      send_frame(std::move(out));
      hello_sent_ = true;
      continue;
    }
    Frame frame = decoder_.take_frame();
    handle_frame(frame);
  }
}

bool Session::admit_request(std::uint32_t id) {
  if (requests_.count(id) != 0) {
    fail_protocol("request id " + std::to_string(id) + " is already in flight");
    return false;
  }
  discarding_.erase(id);  // the client reuses the id: it saw the ERROR
  if (requests_.size() >= limits::kMaxRequestsInFlight) {
    send_error(id, ErrorCode::TOO_MANY_REQUESTS, "",
               "more than " + std::to_string(limits::kMaxRequestsInFlight) + " requests in flight");
    return false;
  }
  return true;
}

void Session::handle_frame(Frame& frame) {
  const std::uint32_t id = frame.header.request_id;
  const ByteSpan payload(frame.payload);
  switch (frame.header.type) {
    case FrameType::kPut: {
      auto put = decode_put(payload);
      if (!put) return fail_protocol("malformed PUT");
      if (!admit_request(id)) return;
      requests_[id] = Upload::start(shared_from_this(), id, std::move(*put));
      return;
    }
    case FrameType::kGet: {
      auto get = decode_get(payload);
      if (!get) return fail_protocol("malformed GET");
      if (!admit_request(id)) return;
      requests_[id] = Download::start(shared_from_this(), id, std::move(*get));
      return;
    }
    case FrameType::kList:
    case FrameType::kStat: {
      auto msg = decode_path_msg(payload);
      if (!msg) {
        return fail_protocol("malformed " + frame_type_name(std::uint8_t(frame.header.type)));
      }
      if (frame.header.flags != 0 && !trees_) return fail_protocol("LIST flags without TREES");
      if (!admit_request(id)) return;
      requests_[id] = Listing::start(shared_from_this(), id, std::move(msg->path),
                                     frame.header.type == FrameType::kList, frame.header.flags);
      return;
    }
    case FrameType::kMkdir: {
      auto msg = decode_mkdir(payload);
      if (!msg || !trees_) return fail_protocol("malformed MKDIR, or TREES not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::mkdir(shared_from_this(), id, std::move(*msg));
      return;
    }
    case FrameType::kSymlink: {
      auto msg = decode_symlink(payload);
      if (!msg || !trees_) return fail_protocol("malformed SYMLINK, or TREES not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::symlink(shared_from_this(), id, std::move(*msg));
      return;
    }
    case FrameType::kData:
    case FrameType::kEnd: {
      if (discarding_.count(id) != 0) {
        if (frame.header.type == FrameType::kEnd) discarding_.erase(id);
        return;
      }
      auto it = requests_.find(id);
      // A copy: the request may finish (and leave the map) while it runs.
      std::shared_ptr<Request> request = it == requests_.end() ? nullptr : it->second;
      if (!request || !request->on_frame(frame)) {
        return fail_protocol(frame_type_name(std::uint8_t(frame.header.type)) + " for request " +
                             std::to_string(id) + ", which is not an upload in progress");
      }
      return;
    }
    case FrameType::kCancel: {
      if (!frame.payload.empty()) return fail_protocol("malformed CANCEL");
      auto it = requests_.find(id);
      if (it != requests_.end()) {
        std::shared_ptr<Request> request = it->second;
        request->abort(ErrorCode::CANCELLED, true);
      }
      return;  // a CANCEL for a request already finished is ignored
    }
    default:
      // The decoder refuses frame types a client may not send.
      return fail_protocol("unexpected frame");
  }
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
  request->on_written = [weak, size](int) {
    if (auto self = weak.lock()) {
      bool was_high = self->send_backlog_ > kSendLowWater;
      self->send_backlog_ -= size;
      if (was_high && self->send_backlog_ <= kSendLowWater && !self->closing_) {
        for (auto& [id, req] : std::unordered_map(self->requests_)) req->on_writable();
        self->update_reading();
      }
    }
  };
  if (start_write(reinterpret_cast<uv_stream_t*>(&tcp_), std::move(request)) != 0) {
    send_backlog_ -= size;
  }
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
  std::size_t size = request->size();
  send_backlog_ += size;
  std::weak_ptr<Session> weak = weak_from_this();
  request->on_written = [weak, size](int) {
    if (auto self = weak.lock()) {
      self->send_backlog_ -= size;
      if (self->send_backlog_ <= kSendLowWater && !self->closing_) {
        for (auto& [rid, req] : std::unordered_map(self->requests_)) req->on_writable();
        self->update_reading();
      }
    }
  };
  if (start_write(reinterpret_cast<uv_stream_t*>(&tcp_), std::move(request)) != 0) {
    send_backlog_ -= size;
  }
}

void Session::send_error(std::uint32_t id, ErrorCode code, const std::string& path,
                         const std::string& message) {
  Bytes out;
  encode_error(out, id, ErrorMsg{static_cast<std::uint16_t>(code), path, message});
  send_frame(std::move(out));
}

void Session::finish_request(std::uint32_t id, bool discard_rest) {
  requests_.erase(id);
  if (!discard_rest) return;
  // Clients need not send END after an ERROR, so refused ids may linger;
  // they do not count as requests in flight, and the oldest are forgotten.
  if (discarding_.insert(id).second) discard_order_.push_back(id);
  while (discard_order_.size() > kMaxDiscarding) {
    discarding_.erase(discard_order_.front());
    discard_order_.pop_front();
  }
}

void Session::add_disk_backlog(std::size_t bytes) {
  disk_backlog_ += bytes;
  update_reading();
}

void Session::remove_disk_backlog(std::size_t bytes) {
  disk_backlog_ -= bytes;
  update_reading();
}

void Session::update_reading() {
  if (closing_) return;
  // Replies to a client that does not read also stop us reading it. The
  // mark is above what downloads queue (they stop at kSendHighWater plus one
  // chunk), so only piled-up replies trip it.
  const bool behind = disk_backlog_ > kDiskHighWater || send_backlog_ > kReplyHighWater;
  const bool caught_up = disk_backlog_ <= kDiskLowWater && send_backlog_ <= kSendLowWater;
  if (!paused_ && behind) {
    paused_ = true;
  } else if (paused_ && caught_up) {
    paused_ = false;
    // Frames already received and staged go first, in order.
    process_input();
    if (closing_ || paused_) return;
  }
  bool want = !paused_;
  if (want && !reading_) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  } else if (!want && reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  }
  reading_ = want;
}

void Session::fail_protocol(const std::string& reason) {
  std::fprintf(stderr, "ftserve: %s: protocol error: %s\n", peer_.c_str(), reason.c_str());
  close(ErrorCode::PROTOCOL, reason, true);
}

void Session::close(ErrorCode code, const std::string& message, bool notify) {
  if (closing_) return;
  // Replies still in the outbox, then the reason: best effort and without
  // queueing, since the connection is going away.
  Bytes out = std::move(outbox_);
  outbox_.clear();
  if (notify) {
    if (!hello_sent_) encode_hello(out, Hello{});
    encode_error(out, 0, ErrorMsg{static_cast<std::uint16_t>(code), "", message});
  }
  if (!out.empty()) {
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  }
  closing_ = true;
  auto requests = std::move(requests_);
  requests_.clear();
  for (auto& [id, request] : requests) request->abort(code, false);
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
  for (auto* handle :
       {reinterpret_cast<uv_handle_t*>(&tcp_), reinterpret_cast<uv_handle_t*>(&flush_check_)}) {
    if (!uv_is_closing(handle)) uv_close(handle, on_closed);
  }
}

void Session::on_closed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  if (--self->open_handles_ > 0) return;
  std::shared_ptr<Session> keep = std::move(self->self_);
  self->server_.session_closed(self);
}

void Session::log_transfer(const char* direction, const std::string& path, std::uint64_t bytes,
                           std::chrono::steady_clock::time_point started, const std::string& result,
                           std::uint64_t resumed_from) {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  double mib_per_s = seconds > 0 ? static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds : 0;
  std::string offset = resumed_from > 0 ? " offset=" + std::to_string(resumed_from) : std::string();
  std::fprintf(
      stderr, "ftserve: peer=%s %s path=\"%s\" bytes=%llu seconds=%.3f MiB/s=%.1f%s result=%s\n",
      peer_.c_str(), direction, printable(path).c_str(), static_cast<unsigned long long>(bytes),
      seconds, mib_per_s, offset.c_str(), result.c_str());
}

}  // namespace ft::server
