#include "client/transfer/put_pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Outgoing DATA allowed in the send queue: the backpressure that bounds
// memory whatever the file sizes (at least two chunks, so that one is
// written while the next is read).
constexpr std::size_t kMaxQueuedBytes = 2 * 1024 * 1024;
// Rewinds accepted in one upload. A well-behaved server fails the upload
// itself after limits::kMaxRewinds; this bound only protects the client from
// one that never stops asking.
constexpr int kMaxRewindsAccepted = 8;
static_assert(kMaxRewindsAccepted >= limits::kMaxRewinds);

constexpr const char* kSourceChanged =
    "source changed while being sent (size, mtime or ctime moved); nothing was committed";

using Clock = std::chrono::steady_clock;

}  // namespace

void UploadItem::reset_for_retry() {
  state = UploadState::kWaiting;
  id = 0;
  next_offset = 0;
  hash.reset();
  rewinds = 0;
  retry_reason.reset();
  probe_id = 0;
  delta_asked = false;
  signature_expected = false;
  signature = {};
  matcher.reset();
  block_index.reset();
  matched_bytes = 0;
}

std::string source_id_for(std::uint64_t device, std::uint64_t inode) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "%s", "localhost");
  }
  std::string id = std::string(host) + ":" + std::to_string(device) + ":" + std::to_string(inode);
  if (id.size() > limits::kMaxSourceIdBytes) id.resize(limits::kMaxSourceIdBytes);
  return id;
}

PutPipeline::PutPipeline(const UploadSettings& settings, TransferReport& report, Listener& listener,
                         std::uint32_t& next_id)
    : settings_(settings), report_(report), listener_(listener), next_id_(next_id) {}

PutPipeline::~PutPipeline() {
  if (ahead_item_ != nullptr) stop_read_ahead(*ahead_item_);
}

void PutPipeline::start(Session& session, UploadItem& item) {
  if (!item.source) {
    std::string why;
    item.source = item.dir_fd >= 0
                      ? SourceFile::open_at(item.dir_fd, item.name, why)
                      : SourceFile::open(item.name.empty() ? item.local : item.name, why);
    if (!item.source) return finish(session, item, Error{ErrorCode::LOCAL_FILE, {}, why}, true);
  }
  item.id = next_id_++;
  by_id_[item.id] = &item;
  item.started = Clock::now();
  PutMsg put;
  put.path = item.remote;
  put.size = item.source->size();
  put.mode = item.source->mode();
  put.mtime_ns = item.source->mtime_ns();
  put.chunk_size = settings_.chunk_size;
  // A file of one chunk at most goes eagerly (protocol 5.6): its data
  // follows the PUT at once instead of a round trip later. Resuming it would
  // save nothing.
  const bool eager = session.eager_agreed() && put.size <= settings_.chunk_size;
  if (eager) {
    put.put_flags = kPutEager;
  } else if (session.resume_agreed()) {
    put.put_flags = kPutResumable;
    put.source_id = source_id_for(item.source->device(), item.source->inode());
  }
  if (!eager && wants_delta(item)) {
    put.put_flags |= kPutDelta;
    item.delta_asked = true;
  }
  Bytes frame;
  encode_put(frame, item.id, put);
  // Untagged, so that drop_unsent() never takes the PUT back: an upload
  // cancelled before its PUT reached the wire still sends it, and its
  // CANCEL then names a request the server knows and answers.
  session.send(std::move(frame), 0);
  item.state = UploadState::kPutSent;
  ++in_flight_;
  if (eager) {
    item.next_offset = 0;
    item.state = UploadState::kStreaming;
    streaming_.push_back(&item);
  }
  report_.progress().set_current(printable(item.local));
}

void PutPipeline::pump(Session& session) {
  while (!slot_waiters_.empty() && in_flight_ + probes_.size() < window_) {
    UploadItem& item = *slot_waiters_.front();
    slot_waiters_.pop_front();
    start(session, item);
  }
  const std::size_t budget = send_budget(session);
  // What the read-ahead holds ready counts against the budget: the bytes of
  // a file ahead of the socket, and ftsend's memory, stay those of the send
  // queue alone. Measured on the 10 GbE link, a whole budget in the queue
  // besides gained nothing (and took the keyed peak to 15.4 MiB).
  const std::size_t ahead_budget =
      budget - std::min(budget / 2, ReadAhead::bytes_ahead(settings_.chunk_size));
  while (!streaming_.empty() &&
         unsent_chunk_bytes(session) < (ahead_item_ != nullptr ? ahead_budget : budget)) {
    UploadItem& item = *streaming_.front();
    const bool delta = item.matcher != nullptr;
    stream_step(session, item);
    // A delta window whose bytes the server holds queues only COPY frames,
    // which the budget does not count: without a turn of the loop between
    // windows, a whole unchanged file would be matched before its first
    // COPY left, and the server's copying would start only then. One
    // window per turn lets the two overlap (docs/client.md, "Delta
    // transfers").
    if (delta) break;
  }
  show_phase(session);
}

// With --compress the chunks still compressing count as well: they reach
// the queue without another look at the budget, so that uncounted, the
// queue alone could reach 2 MiB and four chunks while three more were
// compressed (docs/client.md, "Compression").
std::size_t PutPipeline::unsent_chunk_bytes(const Session& session) {
  return session.connection().queued_chunk_bytes() + session.compressing_chunk_bytes();
}

// One chunk more with --compress, so that the threads always have one
// waiting when the link is faster than they are (the queue then holds the
// small frames of compressible chunks); an incompressible file is not
// slowed by compression, and its queue holds whole chunks.
std::size_t PutPipeline::send_budget(const Session& session) const {
  const std::size_t plain = std::max<std::size_t>(kMaxQueuedBytes, 2 * settings_.chunk_size);
  return session.compress_agreed() ? plain + settings_.chunk_size : plain;
}

// The bytes shown are those that left our send queue. Once every open
// upload has sent its END (and our queue is in the kernel's hands), the
// run only waits for the server to verify, sync and rename: the line says
// "committing" rather than sit at 100% looking frozen. pump() runs at
// least every 250 ms (the session wakes the handler), so the line is
// redrawn while the server is silent.
void PutPipeline::show_phase(Session& session) {
  const bool committing =
      streaming_.empty() && !by_id_.empty() && !session.connection().has_output() &&
      std::all_of(by_id_.begin(), by_id_.end(),
                  [](const auto& entry) { return entry.second->state == UploadState::kEndSent; });
  report_.progress().set_unsent_bytes(session.connection().queued_chunk_bytes());
  report_.progress().set_phase(committing ? ProgressPhase::kCommitting : ProgressPhase::kTransfer);
  report_.progress().tick();
}

void PutPipeline::on_frame(Session& session, Frame& frame) {
  const std::uint32_t id = frame.header.request_id;
  if (probes_.contains(id)) return on_probe_frame(session, id, frame);
  auto found = by_id_.find(id);
  if (found == by_id_.end()) {
    return session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                                  " for request " + std::to_string(id));
  }
  UploadItem& item = *found->second;
  switch (frame.header.type) {
    case FrameType::kPutReady:
      return on_put_ready(session, item, frame);
    case FrameType::kSignature:
      return on_signature(session, item, frame);
    case FrameType::kOk:
      return on_ok(session, item);
    case FrameType::kError:
      return on_error(session, item, frame);
    default:
      session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                             " for upload request " + std::to_string(id));
  }
}

void PutPipeline::on_put_ready(Session& session, UploadItem& item, const Frame& frame) {
  auto ready = decode_put_ready(frame.payload, session.resume_agreed());
  if (!ready) return session.protocol_error("malformed PUT_READY");
  switch (item.state) {
    case UploadState::kPutSent:
      return start_streaming(session, item, *ready);
    case UploadState::kStreaming:
    case UploadState::kEndSent:
      if (session.resume_agreed()) return rewind(session, item, *ready);
      break;
    case UploadState::kCancelling:
      return;  // it crossed our CANCEL
    case UploadState::kProbing:
      break;
    default:
      break;
  }
  session.protocol_error("PUT_READY twice for request " + std::to_string(item.id));
}

// The first PUT_READY: where to start. The END hash covers the whole file,
// so the bytes the server already has are hashed first; with RESUME that
// same hash is compared with the server's prefix hash.
void PutPipeline::start_streaming(Session& session, UploadItem& item, const PutReadyMsg& ready) {
  const std::uint64_t size = item.source->size();
  std::uint64_t start = ready.offset;
  // With DELTA_EARLY a PUT_READY at 0 is followed by the signature, even
  // while a probe asks whether the file is committed (protocol 5.12).
  if (item.delta_asked && session.delta_early_agreed()) item.signature_expected = start == 0;
  if (!session.resume_agreed()) {
    if (ready.offset > size) {
      return session.protocol_error("PUT_READY offset beyond the end of " + printable(item.remote));
    }
    if (!hash_prefix(session, item, start)) return;
  } else if (start == 0 && item.busy_before) {
    // Nothing to resume, although another upload of this source held its
    // partial data when we last asked: it may have committed the file.
    return start_probe(session, item);
  } else if (start > 0) {
    bool same = start <= size;
    if (same) {
      if (!hash_prefix(session, item, start)) return;
      same = ready.prefix_hash && item.hash.digest() == *ready.prefix_hash;
    }
    if (!same) {
      item.hash.reset();
      start = 0;
      report_.note(printable(item.local) +
                   ": server's partial data differs; sending from the start");
    }
  }
  if (item.delta_asked && !start_delta(session, item, start)) return;
  if (start > 0) {
    report_.progress().add_present_bytes(start);
    report_.verbose_line("resumed " + printable(item.remote) + " at " + std::to_string(start) +
                         " of " + std::to_string(size) + " bytes");
  }
  item.next_offset = start;
  item.state = UploadState::kStreaming;
  streaming_.push_back(&item);
}

// A later PUT_READY: a chunk failed its hash on the server, which wants the
// data again from `ready.offset`. Frames of this upload still in our queue
// are dropped; those already in the kernel the server discards.
void PutPipeline::rewind(Session& session, UploadItem& item, const PutReadyMsg& ready) {
  const std::string at = std::to_string(ready.offset);
  if (++item.rewinds > kMaxRewindsAccepted) {
    return cancel(session, item,
                  Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
                        "the server asked for data again " + std::to_string(item.rewinds) +
                            " times; giving up"});
  }
  if (ready.offset > item.next_offset) {
    return cancel(session, item,
                  Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
                        "the server asked for data again from offset " + at + ", beyond the " +
                            std::to_string(item.next_offset) + " bytes sent"});
  }
  session.connection().drop_unsent(item.id);
  stop_read_ahead(item);
  drop_delta_ops(item);
  item.hash.reset();
  if (!hash_prefix(session, item, ready.offset)) return;
  if (!ready.prefix_hash || item.hash.digest() != *ready.prefix_hash) {
    return cancel(session, item,
                  Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
                        "the server's data before offset " + at + " differs from the source"});
  }
  {
    report_.verbose_line("resending " + printable(item.remote) + " from " + at +
                         " (a chunk failed its checksum)");
  }
  item.next_offset = ready.offset;
  if (item.state == UploadState::kEndSent) {
    item.state = UploadState::kStreaming;
    streaming_.push_back(&item);
  }
}

void PutPipeline::on_ok(Session& session, UploadItem& item) {
  if (item.state == UploadState::kCancelling) {
    // Our CANCEL came too late: the file is committed, but it was already
    // reported as failed, so it stays failed.
    return finish(session, item, item.failure, false);
  }
  if (item.state != UploadState::kEndSent) {
    return session.protocol_error("OK before END for request " + std::to_string(item.id));
  }
  if (item.matcher) report_.delta_matched(item.matched_bytes);
  report_.transferred(item.local, item.source->size(),
                      std::chrono::duration<double>(Clock::now() - item.started).count());
  // One more upload may be open at once, until the server refuses again:
  // the identity's budget is shared, and others may have ended theirs.
  if (window_ < limits::kMaxRequestsInFlight) ++window_;
  finish(session, item, std::nullopt, false);
}

void PutPipeline::on_error(Session& session, UploadItem& item, const Frame& frame) {
  ErrorReply reply = read_error_reply(frame, item.remote, item.remote);
  if (reply.violation) return session.protocol_error(*reply.violation);
  session.connection().drop_unsent(item.id);
  if (item.state == UploadState::kCancelling) {
    // Already reported: this is the server acknowledging our CANCEL.
    return finish(session, item, item.failure, false);
  }
  const ErrorCode code = reply.failure.code;
  if (code == ErrorCode::BUSY || code == ErrorCode::SHUTTING_DOWN) {
    // Another connection still holds the partial data (often our own dead
    // one, not yet noticed), or the server is stopping: worth a retry.
    return defer(session, item, std::move(reply.failure));
  }
  if (code == ErrorCode::TOO_MANY_UPLOADS) return wait_for_slot(session, item, reply.failure);
  finish(session, item, std::move(reply.failure), true);
}

// Queues the next DATA frame of `item`, or its END when all is queued.
void PutPipeline::stream_step(Session& session, UploadItem& item) {
  if (delta_ops_pending(item)) return send_delta_ops(session, item);
  SourceFile& source = *item.source;
  if (item.next_offset == source.size()) {
    stop_read_ahead(item);  // every chunk taken: the hash is the whole file's
    std::string why;
    switch (source.check_unchanged(why)) {
      case SourceFile::Check::kChanged:
        return cancel(session, item, Error{ErrorCode::SOURCE_CHANGED, {}, kSourceChanged});
      case SourceFile::Check::kFailed:
        return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
      case SourceFile::Check::kUnchanged:
        break;
    }
    Bytes frame;
    encode_end(frame, item.id, EndMsg{source.size(), item.hash.digest()});
    session.send(std::move(frame), item.id);
    item.state = UploadState::kEndSent;
    streaming_.pop_front();
    return;
  }
  if (item.matcher) return delta_step(session, item);
  if (reads_ahead(session, item)) return send_read_ahead(session, item);
  auto length = static_cast<std::size_t>(
      std::min<std::uint64_t>(settings_.chunk_size, source.size() - item.next_offset));
  if (session.sparse_agreed() && source.sparse()) {
    // SPARSE (docs/protocol.md 5.9): a hole goes as one HOLE frame, its
    // zeros hashed, never read nor sent; data is read up to the next hole.
    std::uint64_t start = 0, end = 0;
    std::string why;
    if (!source.data_range(item.next_offset, start, end, why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    if (start > item.next_offset) {
      const std::uint64_t hole = start - item.next_offset;
      hash_zeros(item.hash, hole);
      Bytes frame;
      encode_hole(frame, item.id, HoleMsg{item.next_offset, hole});
      session.send(std::move(frame), item.id);
      item.next_offset = start;
      report_.sparse(hole);
      return;
    }
    length = static_cast<std::size_t>(std::min<std::uint64_t>(length, end - item.next_offset));
  }
  Bytes chunk = session.connection().take_spare_buffer();
  chunk.resize(length);
  if (!read_source(session, item, item.next_offset, chunk)) return;
  item.hash.update(chunk);
  session.send_chunk(item.id, item.next_offset, std::move(chunk));
  item.next_offset += length;
  report_.progress().add_moving_bytes(length);
}

// A big file goes through the read-ahead from its first chunk on; one
// chunk (or the last one of a resumed file) is read here, like a sparse
// file, whose holes are found as it is read. So is a compressed upload:
// zstd on the compression threads is its limit, not the reads, and its
// chunks in flight already take the memory a read-ahead would.
bool PutPipeline::reads_ahead(Session& session, const UploadItem& item) const {
  if (ahead_item_ == &item) return true;
  if (session.compress_agreed()) return false;
  if (session.sparse_agreed() && item.source->sparse()) return false;
  return item.source->size() - item.next_offset > settings_.chunk_size;
}

void PutPipeline::send_read_ahead(Session& session, UploadItem& item) {
  if (ahead_item_ != &item) {
    // Only the front upload streams: the one read before is done with.
    if (ahead_item_ != nullptr) stop_read_ahead(*ahead_item_);
    read_ahead_.start(*item.source, item.next_offset, item.source->size(), settings_.chunk_size,
                      std::move(item.hash));
    ahead_item_ = &item;
  }
  // The buffers of frames written go back to the thread for later chunks.
  for (Bytes spare = session.connection().take_spare_buffer(); spare.capacity() > 0;
       spare = session.connection().take_spare_buffer()) {
    read_ahead_.recycle(std::move(spare));
  }
  ReadAhead::Chunk chunk = read_ahead_.next();
  if (!chunk.error.empty()) return source_failed(session, item, std::move(chunk.error));
  const std::size_t length = chunk.bytes.size();
  session.send_chunk(item.id, chunk.offset, std::move(chunk.bytes), chunk.hash);
  item.next_offset += length;
  report_.progress().add_moving_bytes(length);
}

bool PutPipeline::drain_read_ahead(Session& session, UploadItem& item) {
  if (ahead_item_ != &item) return true;
  read_ahead_.truncate();
  while (!read_ahead_.done()) {
    send_read_ahead(session, item);
    if (item.state != UploadState::kStreaming) return false;  // cancelled
  }
  stop_read_ahead(item);
  return true;
}

void PutPipeline::stop_read_ahead(UploadItem& item) {
  if (ahead_item_ != &item) return;
  item.hash = read_ahead_.stop();
  ahead_item_ = nullptr;
}

// Adds bytes [0, end) of the source to the item's hash; on failure the
// upload is cancelled and false returned.
bool PutPipeline::hash_prefix(Session& session, UploadItem& item, std::uint64_t end) {
  Bytes buffer = session.connection().take_spare_buffer();
  for (std::uint64_t at = 0; at < end;) {
    auto length = static_cast<std::size_t>(std::min<std::uint64_t>(settings_.chunk_size, end - at));
    buffer.resize(length);
    if (!read_source(session, item, at, buffer)) return false;
    item.hash.update(buffer);
    at += length;
  }
  return true;
}

// Reads source bytes; a failed or short read cancels the upload, as a
// changed source when size, mtime or ctime moved.
bool PutPipeline::read_source(Session& session, UploadItem& item, std::uint64_t offset,
                              std::span<std::uint8_t> out) {
  std::string why;
  if (item.source->read_at(offset, out, why)) return true;
  source_failed(session, item, std::move(why));
  return false;
}

void PutPipeline::source_failed(Session& session, UploadItem& item, std::string why) {
  std::string stat_why;
  if (item.source->check_unchanged(stat_why) == SourceFile::Check::kChanged) {
    cancel(session, item, Error{ErrorCode::SOURCE_CHANGED, {}, kSourceChanged});
  } else {
    cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, std::move(why)});
  }
}

// A local failure in the middle of an upload: report it now, tell the
// server, and wait for its ERROR before the request counts as finished.
void PutPipeline::cancel(Session& session, UploadItem& item, Error error) {
  const bool local = error.path.empty();
  report_.failed(item.local, error, local ? item.local : item.remote);
  item.failure = std::move(error);
  item.state = UploadState::kCancelling;
  std::erase(streaming_, &item);
  stop_read_ahead(item);
  drop_delta_ops(item);
  session.connection().drop_unsent(item.id);
  Bytes frame;
  encode_cancel(frame, item.id);
  session.send(std::move(frame), item.id);
}

void PutPipeline::forget(UploadItem& item) {
  if (item.state != UploadState::kWaiting) --in_flight_;
  if (auto probe = probes_.find(item.probe_id); item.probe_id != 0 && probe != probes_.end()) {
    probe->second.item = nullptr;  // its answer is still swallowed when it comes
  }
  item.probe_id = 0;
  std::erase(streaming_, &item);
  stop_read_ahead(item);
  drop_delta_ops(item);
  if (item.id != 0) by_id_.erase(item.id);
}

// Marks the item done; reports the failure (if any) when `print`.
void PutPipeline::finish(Session& session, UploadItem& item, std::optional<Error> failure,
                         bool print) {
  if (failure && print) {
    const bool local = failure->path.empty();
    report_.failed(item.local, *failure, local ? item.local : item.remote);
  }
  forget(item);
  item.failure = std::move(failure);
  item.state = UploadState::kDone;
  if (item.source) item.source->close();
  listener_.on_settled(session, item);
}

// The identity's budget of open uploads (docs/server.md, "Limits") is spent.
// While uploads of ours are open the server holds all it lets us have: this
// one is sent again when one of them ends, and no more are opened than it
// accepted. With none of ours open, other connections hold the budget and
// nothing here frees a slot: it is retried on a new connection after the
// backoff, like BUSY, and so are the others waiting.
void PutPipeline::wait_for_slot(Session& session, UploadItem& item, Error reason) {
  forget(item);
  item.reset_for_retry();
  slot_waiters_.push_back(&item);
  window_ = std::max<std::size_t>(1, in_flight_);
  if (in_flight_ == 0) {
    while (!slot_waiters_.empty()) {
      UploadItem& waiting = *slot_waiters_.front();
      slot_waiters_.pop_front();
      defer(session, waiting, reason);
    }
    return;
  }
  report_.verbose_line("waiting for an upload slot: " + printable(item.remote));
}

void PutPipeline::defer(Session& session, UploadItem& item, Error reason) {
  forget(item);
  if (reason.code == ErrorCode::BUSY) item.busy_before = true;
  item.retry_reason = std::move(reason);
  item.state = UploadState::kRetryLater;
  listener_.on_settled(session, item);
}

}  // namespace ft::client
