#include "server/net/session.hpp"

#include <unistd.h>

#include <cassert>

#include "common/rules/path_rules.hpp"
#include "server/log/log.hpp"
#include "server/metrics/metrics.hpp"
#include "server/net/server.hpp"
#include "server/requests/download.hpp"
#include "server/requests/listing.hpp"
#include "server/requests/tree_request.hpp"
#include "server/requests/upload.hpp"

namespace ft::server {

Session::Session(Server& server)
    : server_(server), phase_(server.options().tls ? Phase::kTlsHandshake : Phase::kAwaitingHello) {
  if (server_.options().tls) {
    // With keys: no rights and no root until the handshake names the
    // identity (session_tls.cpp, finish_authentication).
    access_.rights = 0;
    return;
  }
  // Open mode: one implicit identity with every right the server's mode
  // leaves.
  access_.root_fd = server_.root_fd();
  access_.rights = effective_rights(
      kAllRights | (server_.options().owners ? std::uint32_t{kRightOwner} : 0u), server_.options());
}

Session::~Session() {
  // The Server frees a session only once it is closed and unreferenced.
  assert(phase_ == Phase::kClosing && requests_.empty());
  server_.budget().forget(this);
  server_.budget().update(budget_held_, 0);
}

void Session::enter(Phase next) {
  // The legal moves of the phase table in session.hpp.
  [[maybe_unused]] const bool legal =
      next == Phase::kClosing
          ? phase_ != Phase::kClosing
          : (phase_ == Phase::kTlsHandshake && next == Phase::kAuthenticating) ||
                ((phase_ == Phase::kTlsHandshake || phase_ == Phase::kAuthenticating) &&
                 next == Phase::kAwaitingHello) ||
                (phase_ == Phase::kAwaitingHello && next == Phase::kServing);
  assert(legal);
  phase_ = next;
}

void Session::defer(std::function<void()> task) {
  server_.defer(std::move(task));
}

uv_loop_t* Session::loop() const {
  return server_.loop();
}

ServerServices& Session::services() const {
  return server_;
}

void Session::process_input() {
  if (!decoder_ || !authenticated()) return;
  while (!closing() && !paused_) {
    DecodeStatus status = decoder_->next();
    if (status == DecodeStatus::kNeedMore) return;
    if (status == DecodeStatus::kError) {
      const DecodeError& e = decoder_->error();
      if (e.kind == DecodeErrorKind::kBadMagic) {
        // Not an ft client: answer nothing, as docs/protocol.md says.
        log::warn("peer=%s: %s", peer_.c_str(), e.reason.c_str());
        close(ErrorCode::PROTOCOL, e.reason, false);
      } else if (e.kind == DecodeErrorKind::kWrongVersion) {
        Bytes out;
        encode_hello(out, Hello{});
        encode_error(
            out, 0,
            ErrorMsg{static_cast<std::uint16_t>(ErrorCode::UNSUPPORTED_VERSION), "", e.reason});
        send_frame(std::move(out));
        close(ErrorCode::UNSUPPORTED_VERSION, e.reason, false);
      } else if (e.kind == DecodeErrorKind::kFrameCheck) {
        fail_frame_check(e.reason + " at byte " + std::to_string(e.offset));
      } else {
        fail_protocol(e.reason + " at byte " + std::to_string(e.offset));
      }
      return;
    }
    if (status == DecodeStatus::kHello) {
      answer_hello();
      continue;
    }
    Frame frame = decoder_->take_frame();
    note_activity();  // a whole frame is progress, however slowly it came
    handle_frame(frame);
    // A request admitted or a payload handed over changes what this
    // connection holds: past its share, it decodes no further.
    account();
    if (over_budget()) update_reading();
  }
}

void Session::answer_hello() {
  const Hello& theirs = decoder_->hello();
  if (frame_check_offer(theirs.capabilities) == FrameCheckOffer::kCorrupted) {
    // A client sends both FRAME_CHECK bits or neither: one alone is a bit
    // flipped on the way, which could have turned the check off.
    fail_frame_check("client hello damaged in transit (one FRAME_CHECK bit of two)");
    return;
  }
  Hello ours;
  ours.version_min = ours.version_max = kProtocolVersion;
  ours.capabilities = theirs.capabilities & kKnownCapabilities;
  // OWNERS says this server will set owners for this identity: it runs as
  // root and the identity holds the owner right (section 5.9).
  if (::geteuid() != 0 || !access_.allows(kRightOwner)) ours.capabilities &= ~kCapOwners;
  if (!server_.options().compress) ours.capabilities &= ~kCapCompress;
  resume_ = (ours.capabilities & kCapResume) != 0;
  archive_ = (ours.capabilities & kCapArchive) != 0;
  sparse_ = (ours.capabilities & kCapSparse) != 0;
  compress_ = (ours.capabilities & kCapCompress) != 0;
  owners_ = (ours.capabilities & kCapOwners) != 0;
  trees_ = (ours.capabilities & kCapTrees) != 0;
  eager_ = (ours.capabilities & kCapEager) != 0;
  stream_ = (ours.capabilities & kCapStream) != 0;
  delete_ = (ours.capabilities & kCapDelete) != 0;
  link_ = (ours.capabilities & kCapLink) != 0;
  delta_put_ = (ours.capabilities & kCapDeltaPut) != 0;
  delta_early_ = delta_put_ && (ours.capabilities & kCapDeltaEarly) != 0;
  delta_get_ = (ours.capabilities & kCapDeltaGet) != 0;
  paced_ = (ours.capabilities & kCapPaced) != 0;
  Bytes out;
  encode_hello(out, ours);
  send_frame(std::move(out));  // the hello itself never carries a check block
  frame_check_ = frame_check_offer(ours.capabilities) == FrameCheckOffer::kOffered;
  decoder_->set_frame_check(frame_check_);
  hello_received();
}

bool Session::admit_request(std::uint32_t id, bool transfer) {
  if (requests_.count(id) != 0) {
    fail_protocol("request id " + std::to_string(id) + " is already in flight");
    return false;
  }
  discarding_.erase(id);  // the client reuses the id: it saw the ERROR
  if (transfer && server_.draining()) {
    // An upload or download (which may take long) is tried again on the
    // client's next connection (another node); what it sends for this id
    // meanwhile is swallowed. Short requests (MKDIR, SYMLINK, LIST, STAT)
    // are served: a client may not retry them later.
    send_error(id, ErrorCode::SHUTTING_DOWN, "", "server is shutting down");
    finish_request(id, true);
    return false;
  }
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
      if (!admit_request(id, true)) return;
      requests_[id] = Upload::start(*this, id, std::move(*put));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kGet: {
      auto get = decode_get(payload);
      if (!get) return fail_protocol("malformed GET");
      const bool delta = (frame.header.flags & kFlagDelta) != 0;
      if (delta && !delta_get_) return fail_protocol("GET flag DELTA without DELTA_GET");
      if (delta && get->offset != 0) {
        return fail_protocol("GET flag DELTA with offset " + std::to_string(get->offset));
      }
      if (!admit_request(id, true)) return;
      requests_[id] = Download::start(*this, id, std::move(*get), delta);
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kList:
    case FrameType::kStat: {
      auto msg = decode_path_msg(payload);
      if (!msg) {
        return fail_protocol("malformed " + frame_type_name(std::uint8_t(frame.header.type)));
      }
      if (frame.header.flags != 0 && !trees_) return fail_protocol("LIST flags without TREES");
      if ((frame.header.flags & kFlagMeta) != 0 && !archive_) {
        return fail_protocol("LIST flag META without ARCHIVE");
      }
      if ((frame.header.flags & kFlagPaced) != 0 &&
          (!paced_ || frame.header.type != FrameType::kList)) {
        return fail_protocol("LIST flag PACED without PACED");
      }
      if (!admit_request(id)) return;
      requests_[id] = Listing::start(*this, id, std::move(msg->path),
                                     frame.header.type == FrameType::kList, frame.header.flags);
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kMkdir: {
      auto msg = decode_mkdir(payload);
      if (!msg || !trees_) return fail_protocol("malformed MKDIR, or TREES not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::mkdir(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kSymlink: {
      auto msg = decode_symlink(payload);
      if (!msg || !trees_) return fail_protocol("malformed SYMLINK, or TREES not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::symlink(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kDelete: {
      auto msg = decode_delete(payload);
      if (!msg || !delete_) return fail_protocol("malformed DELETE, or DELETE not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::remove(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kLink: {
      auto msg = decode_link(payload);
      if (!msg || !link_) return fail_protocol("malformed LINK, or LINK not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::link(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kHardlink: {
      auto msg = decode_hardlink(payload);
      if (!msg || !archive_) return fail_protocol("malformed HARDLINK, or ARCHIVE not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::hardlink(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kAttrs: {
      auto msg = decode_attrs(payload);
      if (!msg || !archive_) return fail_protocol("malformed ATTRS, or ARCHIVE not agreed");
      if (!admit_request(id)) return;
      requests_[id] = TreeRequest::attrs(*this, id, std::move(*msg));
      charge_request(id, payload.size());
      return;
    }
    case FrameType::kHole:
      if (!sparse_) return fail_protocol("HOLE without SPARSE");
      [[fallthrough]];
    case FrameType::kData:
    case FrameType::kCopy:
    case FrameType::kSignature:  // a delta download's (section 5.16)
    case FrameType::kEnd: {
      if (discarding_.count(id) != 0) {
        if (frame.header.type == FrameType::kEnd) discarding_.erase(id);
        return;
      }
      auto it = requests_.find(id);
      // A copy: the request may finish (and leave the map) while it runs.
      std::shared_ptr<Request> request = it == requests_.end() ? nullptr : it->second;
      if (!request || !request->on_frame(frame)) {
        // Each violation names its reason (docs/protocol.md, section 7).
        return fail_protocol(
            frame_type_name(std::uint8_t(frame.header.type)) + " for request " +
            std::to_string(id) + ", " +
            (request ? request->frame_violation() : std::string("which is not in flight")));
      }
      return;
    }
    case FrameType::kNext: {
      if (!frame.payload.empty() || !paced_)
        return fail_protocol("malformed NEXT, or PACED not agreed");
      auto it = requests_.find(id);
      std::shared_ptr<Request> request = it == requests_.end() ? nullptr : it->second;
      if (!request || !request->resume()) {
        return fail_protocol("NEXT for request " + std::to_string(id) +
                             ", which is not a listing paused at a window's end");
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

void Session::send_error(std::uint32_t id, ErrorCode code, const std::string& path,
                         const std::string& message) {
  Bytes out;
  encode_error(out, id, ErrorMsg{static_cast<std::uint16_t>(code), path, message});
  send_frame(std::move(out));
}

void Session::charge_request(std::uint32_t id, std::size_t payload) {
  // The request may have finished already (a refusal is deferred, but a
  // request never finishes from inside its own start).
  if (requests_.count(id) == 0) return;
  const std::size_t charge = kRequestFixedCharge + 2 * payload;
  request_charges_[id] = charge;
  requests_charge_ += charge;
  account();
}

void Session::finish_request(std::uint32_t id, bool discard_rest) {
  requests_.erase(id);
  if (auto it = request_charges_.find(id); it != request_charges_.end()) {
    requests_charge_ -= it->second;
    request_charges_.erase(it);
  }
  account();
  if (requests_.empty() && server_.draining() && !closing()) {
    // Draining: the last request in flight is done. Not from inside the
    // request's own call; the reference keeps a session closed meanwhile
    // from being freed under the task.
    defer([this, ref = ContextRef(*this)] {
      if (requests_.empty() && !closing()) {
        close(ErrorCode::SHUTTING_DOWN, "server is shutting down", true);
      }
    });
  }
  if (!discard_rest) return;
  // Clients need not send END after an ERROR, so refused ids may linger;
  // they do not count as requests in flight, and the oldest are forgotten.
  if (discarding_.insert(id).second) discard_order_.push_back(id);
  while (discard_order_.size() > kMaxDiscarding) {
    discarding_.erase(discard_order_.front());
    discard_order_.pop_front();
  }
}

bool Session::listing_may_start() const {
  // A listing holds its entries until its last page is sent: none starts
  // while replies pile up for a client that does not read, or while the
  // server's memory budget is spent.
  return listings_running_ < kMaxListingsRunning && reply_memory_ <= kSendHighWater &&
         may_buffer(0);
}

void Session::start_listing(std::function<void()> run, bool hashes) {
  listings_waiting_.push_back(WaitingListing{std::move(run), hashes});
  start_waiting_listings();
}

void Session::listing_finished() {
  --listings_running_;
  start_waiting_listings();
}

void Session::listing_job_done(bool hashes) {
  server_.budget().end_listing_job(hashes);
}

void Session::start_waiting_listings() {
  while (!closing() && !listings_waiting_.empty() && listing_may_start()) {
    // A server-wide slot for reading the directory; its job gives it back
    // (listing_job_done).
    const bool hashes = listings_waiting_.front().hashes;
    if (!server_.budget().begin_listing_job(this, hashes)) {
      // In line by identity: one with many connections is served no more
      // often than one with a single connection (docs/server.md, "Fairness").
      return server_.budget().wait_for_listing_slot(this, hashes, server_.upload_slot_owner(*this));
    }
    std::function<void()> run = std::move(listings_waiting_.front().run);
    listings_waiting_.pop_front();
    ++listings_running_;
    run();
  }
  if (!closing() && !listings_waiting_.empty() && !server_.budget().drained()) {
    server_.budget().wait(this);
  }
}

void Session::listing_slot_freed() {
  if (!closing()) start_waiting_listings();
  server_.budget().decline(this);  // granted but not taken: the next one's
}

void Session::start_hashing(std::function<void()> run) {
  // Waits in the same line as hashing listings, and counts as one of this
  // connection's listings while it runs.
  start_listing(std::move(run), true);
}

void Session::hashing_done() {
  listing_job_done(true);
  listing_finished();
}

bool Session::try_extra_hashing() {
  // Server-wide only: no waiter of any connection is passed over
  // (begin_listing_job refuses a slot promised to one).
  return !closing() && server_.budget().begin_listing_job(nullptr, true);
}

void Session::extra_hashing_done() {
  listing_job_done(true);
}

std::size_t Session::send_high_water() const {
  return server_.options().tls ? kTlsSendHighWater : kSendHighWater;
}

std::size_t Session::send_low_water() const {
  return server_.options().tls ? kTlsSendLowWater : kSendLowWater;
}

bool Session::may_buffer(std::size_t bytes) const {
  // --bwlimit holds downloads back too (paced() arms the timer that wakes
  // them); const for the requests, but the pacer's clock moves.
  return send_backlog_ + read_ahead_ <= send_high_water() &&
         server_.budget().may_hold(budget_held_, bytes) &&
         !const_cast<Session*>(this)->paced(BandwidthPacer::Direction::kOut);
}

void Session::notify_when_writable(std::weak_ptr<Request> request) {
  writable_waiters_.push_back(std::move(request));
  // Refused by the budget rather than by this connection's own queue (whose
  // drain wakes it): wait for the budget too. A drained budget refuses
  // nothing a request asks for (one chunk is far less than the low mark).
  if (!server_.budget().drained()) server_.budget().wait(this);
}

void Session::add_reply_memory(std::size_t bytes) {
  reply_memory_ += bytes;
  account();
}

void Session::remove_reply_memory(std::size_t bytes) {
  reply_memory_ -= bytes;
  account();
  wake_listings_later();  // listing_may_start() counts it
}

void Session::account() {
  const std::size_t now = disk_backlog_ + send_backlog_ + read_ahead_ + reply_memory_ +
                          requests_charge_ + (decoder_ ? decoder_->buffered_bytes() : 0) +
                          (tls_ ? tls_->buffered() : 0);
  server_.budget().update(budget_held_, now);
}

bool Session::over_budget() const {
  return budget_held_ > MemoryBudget::kAllowance && server_.budget().tight();
}

void Session::budget_freed() {
  if (closing()) return;
  on_send_drained();
}

void Session::add_disk_backlog(std::size_t bytes) {
  disk_backlog_ += bytes;
  account();
  update_reading();
}

void Session::remove_disk_backlog(std::size_t bytes) {
  disk_backlog_ -= bytes;
  account();
  update_reading();
}

void Session::update_reading() {
  if (closing()) return;
  // Replies to a client that does not read also stop us reading it. The
  // mark is above what downloads queue (they stop at kSendHighWater plus one
  // chunk), so only piled-up replies trip it.
  // So does the server's memory budget, spent while this connection holds
  // more than its allowance (docs/server.md, "Memory").
  const bool short_of_memory = over_budget();
  const bool behind =
      disk_backlog_ > kDiskHighWater || send_backlog_ > kReplyHighWater || short_of_memory;
  const bool caught_up =
      disk_backlog_ <= kDiskLowWater && send_backlog_ <= send_low_water() && !short_of_memory;
  if (short_of_memory) {
    // Recycled payload buffers are the first thing to give back.
    if (decoder_ && decoder_->buffered_bytes() > 0 && !decoder_->failed()) {
      decoder_->release_pool();
      account();
    }
    server_.budget().wait(this);
  }
  if (!paused_ && behind) {
    paused_ = true;
  } else if (paused_ && caught_up) {
    paused_ = false;
    // Frames already received and staged go first, in order, then what
    // the TLS engine holds decrypted.
    process_input();
    if (tls_) drain_plaintext();
    if (closing() || paused_) return;
  }
  // While an identity's directory is being opened nothing is read, nor
  // while --bwlimit's inbound bucket is in debt.
  bool want =
      !paused_ && phase_ != Phase::kAuthenticating && !paced(BandwidthPacer::Direction::kIn);
  if (want && !reading_) {
    uv_read_start(tcp_.stream(), on_alloc, on_read);
  } else if (!want && reading_) {
    uv_read_stop(tcp_.stream());
  }
  reading_ = want;
}

void Session::fail_protocol(const std::string& reason) {
  log::warn("peer=%s: protocol error: %s", peer_.c_str(), reason.c_str());
  close(ErrorCode::PROTOCOL, reason, true);
}

void Session::fail_frame_check(const std::string& reason) {
  log::warn("peer=%s: frame check failed: %s", peer_.c_str(), reason.c_str());
  close(ErrorCode::FRAME_CHECK, reason, true);
}

void Session::log_access(const char* op, const std::string& path, std::uint64_t bytes,
                         std::chrono::steady_clock::time_point started, const std::string& result,
                         std::uint64_t resumed_from) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log::AccessRecord record;
  record.peer = peer_;
  record.identity = access_.identity;
  record.op = op;
  record.path = path;
  record.bytes = bytes;
  record.seconds = seconds;
  record.result = result;
  record.offset = resumed_from;
  log::access(record);
  Metrics& counters = metrics();
  counters.request_finished(op, result);
  const std::string_view name(op);
  if (bytes > 0 && (name == "put" || name == "get")) {
    counters.identity_bytes(access_.identity, name == "put", bytes);
  }
}

void Session::count_traffic(std::size_t received, std::size_t sent) {
  Metrics& counters = metrics();
  if (received > 0) counters.received_bytes.fetch_add(received, std::memory_order_relaxed);
  if (sent > 0) counters.sent_bytes.fetch_add(sent, std::memory_order_relaxed);
}

}  // namespace ft::server
