#include "client/transfer/get_pipeline.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "common/base/limits.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;
// Bytes read at a time when hashing the kept prefix of a partial file.
constexpr std::size_t kPrefixReadSize = 1024 * 1024;
// A received file at least this large shows "verifying" while it is
// synced and renamed; smaller ones are done before a redraw would matter.
constexpr std::uint64_t kVerifyingShownFrom = 4 * 1024 * 1024;

// See has_room(): the partial files open at once. The room left for
// directories, the socket and the rest is the other half of the limit.
std::size_t descriptor_budget() {
  constexpr std::size_t kMost = limits::kMaxRequestsInFlight + GetPipeline::kMaxCommitting;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kMost;
  return std::clamp<std::size_t>(static_cast<std::size_t>(limit.rlim_cur / 2), 16, kMost);
}

}  // namespace

void DownloadItem::reset_for_retry() {
  state = DownloadState::kWaiting;
  id = 0;
  received = 0;
  hash.reset();
  writes_queued = false;
  write_failure.clear();
  resuming.reset();
  retry_reason.reset();
  delta_asked = false;
  delta_used = false;
  basis.reset();
  matched_bytes = 0;
  counted_present = 0;
}

GetPipeline::GetPipeline(TransferReport& report, Listener& listener, std::uint32_t& next_id)
    : report_(report),
      listener_(listener),
      next_id_(next_id),
      descriptors_(descriptor_budget()),
      window_(std::min(descriptors_, limits::kMaxRequestsInFlight)) {}

void GetPipeline::tick_progress() {
  report_.progress().tick();
}

bool GetPipeline::owns(std::uint32_t id) const {
  return by_id_.contains(id) || abandoned_.contains(id) || late_cancel_replies_.contains(id);
}

void GetPipeline::start(Session& session, DownloadItem& item) {
  std::string why;
  item.landing = LandingFile::open(item.dir_fd, item.local_name, why, item.fresh_dir);
  if (!item.landing) return finish(session, item, Error{ErrorCode::LOCAL_FILE, {}, why}, true);
  ++in_flight_;
  item.started = Clock::now();
  report_.progress().set_current(printable(item.local_path));
  const std::uint64_t offset = resume_offset(item);
  send_get(session, item, offset, offset == 0 && open_basis(session, item));
}

void GetPipeline::on_frame(Session& session, Frame& frame) {
  const std::uint32_t id = frame.header.request_id;
  if (abandoned_.contains(id)) {
    // A GET we cancelled to start over: drop its frames until it ends.
    if (frame.header.type == FrameType::kEnd || frame.header.type == FrameType::kError) {
      abandoned_.erase(id);
    }
    return;
  }
  auto found = by_id_.find(id);
  if (found == by_id_.end()) {
    // One ERROR may still come for a request we cancelled after its END was
    // already on its way.
    if (frame.header.type == FrameType::kError && late_cancel_replies_.erase(id) > 0) return;
    return session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                                  " for request " + std::to_string(id));
  }
  DownloadItem& item = *found->second;
  // Every frame but DATA reads or ends what the writer may still hold.
  if (frame.header.type != FrameType::kData && !settle_writes(item) &&
      item.state == DownloadState::kReceiving) {
    // A chunk could not be written: the partial file is not what came.
    Error failure{ErrorCode::LOCAL_FILE, {}, item.write_failure};
    const bool ended =
        frame.header.type == FrameType::kEnd || frame.header.type == FrameType::kError;
    if (ended) return finish(session, item, std::move(failure), true);
    return cancel(session, item, std::move(failure));
  }
  switch (frame.header.type) {
    case FrameType::kGetReady:
      return on_get_ready(session, item, frame);
    case FrameType::kData:
      return on_data(session, item, frame);
    case FrameType::kHole:
      return on_hole(session, item, frame);
    case FrameType::kCopy:
      return on_copy(session, item, frame);
    case FrameType::kEnd:
      return on_end(session, item, frame);
    case FrameType::kError:
      return on_error(session, item, frame);
    default:
      session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                             " for download request " + std::to_string(id));
  }
}

// Where the kept partial data lets the download start: its length, if its
// record names this remote file and the data is not longer than that file
// was; otherwise 0 (the data is emptied at GET_READY).
std::uint64_t GetPipeline::resume_offset(DownloadItem& item) {
  item.resuming.reset();
  const std::uint64_t length = item.landing->length_at_open();
  if (length == 0) return 0;
  auto record = item.landing->record();
  if (!record || record->remote_path != item.remote || length > record->size) return 0;
  item.resuming = record;
  return length;
}

void GetPipeline::send_get(Session& session, DownloadItem& item, std::uint64_t offset, bool delta) {
  item.id = next_id_++;
  by_id_[item.id] = &item;
  item.start_offset = offset;
  item.delta_asked = delta;
  item.delta_used = false;
  item.matched_bytes = 0;
  item.counted_present = 0;
  if (!delta) item.basis.reset();
  Bytes frame;
  encode_get(frame, item.id, GetMsg{item.remote, offset}, delta ? kFlagDelta : 0);
  session.send(std::move(frame), item.id);
  item.state = DownloadState::kGetSent;
}

// The kept data belongs to another version of the remote file: forget it
// and ask for the whole file on the same connection.
void GetPipeline::start_over(Session& session, DownloadItem& item) {
  report_.note(printable(item.remote) + ": remote file changed; starting over");
  by_id_.erase(item.id);
  item.resuming.reset();
  send_get(session, item, 0);
}

void GetPipeline::on_get_ready(Session& session, DownloadItem& item, const Frame& frame) {
  auto ready = decode_get_ready(frame.payload);
  if (!ready) return session.protocol_error("malformed GET_READY");
  if (item.state != DownloadState::kGetSent) {
    return session.protocol_error("GET_READY twice for request " + std::to_string(item.id));
  }
  item.ready = *ready;
  item.state = DownloadState::kReceiving;
  if (!item.size_counted) {
    report_.progress().add_total(0, ready->size);
    item.size_counted = true;
  }
  item.hash.reset();
  item.received = 0;
  if (auto absurd = absurd_size(ready->size)) {
    // No local file can hold it: refuse before a byte is written.
    return cancel(session, item, Error{ErrorCode::PROTOCOL, item.remote, *absurd});
  }
  std::string why;
  if (item.start_offset > 0) {
    if (item.resuming->size != ready->size || item.resuming->mtime_ns != ready->mtime_ns) {
      abandoned_.insert(item.id);
      Bytes cancel_frame;
      encode_cancel(cancel_frame, item.id);
      session.send(std::move(cancel_frame), item.id);
      return start_over(session, item);
    }
    // The END hash covers the whole file: hash the kept prefix first.
    if (!hash_kept_prefix(item, why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    item.received = item.start_offset;
    report_.progress().add_present_bytes(item.start_offset);
    item.counted_present += item.start_offset;
    report_.verbose_line("resumed " + printable(item.local_path) + " at " +
                         std::to_string(item.start_offset) + " of " + std::to_string(ready->size) +
                         " bytes");
    return;
  }
  if (!item.landing->start_over(PartialRecord{item.remote, ready->size, ready->mtime_ns}, why)) {
    return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
  }
  if (item.delta_asked) send_signature(session, item);
}

bool GetPipeline::hash_kept_prefix(DownloadItem& item, std::string& why) {
  Bytes buffer;
  for (std::uint64_t at = 0; at < item.start_offset;) {
    auto length =
        static_cast<std::size_t>(std::min<std::uint64_t>(kPrefixReadSize, item.start_offset - at));
    buffer.resize(length);
    if (!item.landing->read_at(at, buffer, why)) return false;
    item.hash.update(buffer);
    at += length;
  }
  return true;
}

void GetPipeline::on_data(Session& session, DownloadItem& item, Frame& frame) {
  auto data = decode_data(frame.payload, frame.header.flags);
  if (!data) return session.protocol_error("malformed DATA");
  // A compressed chunk is checked by the size its zstd frame declares
  // before a byte is decompressed (docs/protocol.md 5.15).
  const auto length = SessionCompression::chunk_length(*data, session.compress_agreed());
  if (!length) return session.protocol_error("compressed DATA that declares no size");
  if (item.state == DownloadState::kCancelling) return;
  if (item.state != DownloadState::kReceiving) {
    return session.protocol_error("DATA before GET_READY for request " + std::to_string(item.id));
  }
  // Only a file with chunks at the writer can have failed unseen.
  if (item.writes_queued && writer_.failed(item.write_failure)) {
    settle_writes(item);
    return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, item.write_failure});
  }
  if (data->offset != item.received) {
    return cancel(session, item,
                  Error{ErrorCode::PROTOCOL, item.remote,
                        "DATA at offset " + std::to_string(data->offset) + ", expected " +
                            std::to_string(item.received)});
  }
  if (*length > item.ready.chunk_size) {
    return cancel(session, item,
                  Error{ErrorCode::PROTOCOL, item.remote, "DATA larger than the chunk size"});
  }
  if (*length > item.ready.size - item.received) {
    return cancel(
        session, item,
        Error{ErrorCode::SIZE_MISMATCH, item.remote,
              "more data than the declared size of " + std::to_string(item.ready.size) + " bytes"});
  }
  const bool inflated = data->compressed;
  if (inflated) {
    std::string why = session.compression().inflate(*data, static_cast<std::size_t>(*length));
    if (!why.empty()) return cancel(session, item, Error{ErrorCode::PROTOCOL, item.remote, why});
  }
  if (hash64(data->bytes) != data->chunk_hash) {
    return cancel(
        session, item,
        Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
              "checksum mismatch in the chunk at offset " + std::to_string(data->offset)});
  }
  const std::size_t size = data->bytes.size();
  // Hashed here rather than by the writer: the two threads then share the
  // work more evenly (the write is the larger part).
  item.hash.update(data->bytes);
  // A file that arrives whole in this chunk (most small files) is written
  // here: a hand-over would cost more than the write, and its END would
  // wait for the writer. So is a decompressed chunk, whose bytes are the
  // session's (the file's earlier chunks are written first).
  const bool whole_file = !item.writes_queued && item.received + size == item.ready.size;
  if (whole_file || inflated) {
    std::string why;
    if (!settle_writes(item) || !item.landing->write_at(data->offset, data->bytes, why)) {
      return cancel(session, item,
                    Error{ErrorCode::LOCAL_FILE, {}, why.empty() ? item.write_failure : why});
    }
  } else {
    item.writes_queued = true;
    writer_.write(*item.landing, data->offset, std::move(frame.payload), data->bytes,
                  item.write_failure);
    writer_.take_spent(spent_buffers_);
    for (Bytes& buffer : spent_buffers_) session.recycle_payload(std::move(buffer));
    spent_buffers_.clear();
  }
  item.received += size;
  report_.progress().add_moving_bytes(size);
}

bool GetPipeline::settle_writes(DownloadItem& item) {
  if (item.writes_queued) {
    writer_.drain();
    item.writes_queued = false;
  }
  return item.write_failure.empty();
}

// SPARSE (docs/protocol.md 5.9): zeros that are not sent, left as a hole.
void GetPipeline::on_hole(Session& session, DownloadItem& item, const Frame& frame) {
  auto hole = decode_hole(frame.payload);
  if (!hole || !session.sparse_agreed()) return session.protocol_error("malformed HOLE");
  if (item.state == DownloadState::kCancelling) return;
  if (item.state != DownloadState::kReceiving) {
    return session.protocol_error("HOLE before GET_READY for request " + std::to_string(item.id));
  }
  if (hole->offset != item.received) {
    return cancel(session, item,
                  Error{ErrorCode::PROTOCOL, item.remote,
                        "HOLE at offset " + std::to_string(hole->offset) + ", expected " +
                            std::to_string(item.received)});
  }
  if (hole->length > item.ready.size - item.received) {
    return cancel(
        session, item,
        Error{ErrorCode::SIZE_MISMATCH, item.remote,
              "more data than the declared size of " + std::to_string(item.ready.size) + " bytes"});
  }
  std::string why;
  if (!item.landing->write_hole(hole->offset, hole->length, why)) {
    return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
  }
  hash_zeros(item.hash, hole->length);
  item.received += hole->length;
  report_.sparse(hole->length);
  // Not moved, but done: the line reaches 100 % at a sparse file's end.
  report_.progress().add_present_bytes(hole->length);
  item.counted_present += hole->length;
}

void GetPipeline::on_end(Session& session, DownloadItem& item, const Frame& frame) {
  auto end = decode_end(frame.payload);
  if (!end) return session.protocol_error("malformed END");
  if (item.state == DownloadState::kCancelling) {
    late_cancel_replies_.insert(item.id);
    return finish(session, item, item.failure, false);
  }
  if (item.state != DownloadState::kReceiving) {
    return session.protocol_error("END before GET_READY for request " + std::to_string(item.id));
  }
  if (end->total_size != item.ready.size || item.received != item.ready.size) {
    return finish(session, item,
                  Error{ErrorCode::SIZE_MISMATCH, item.remote,
                        "size mismatch: " + std::to_string(item.received) + " bytes received, " +
                            std::to_string(item.ready.size) + " announced, END says " +
                            std::to_string(end->total_size)},
                  true);
  }
  if (end->file_hash != item.hash.digest()) {
    if (item.delta_used) return retry_without_delta(session, item);
    return finish(session, item,
                  Error{ErrorCode::CHECKSUM_MISMATCH, item.remote, "checksum mismatch"}, true);
  }
  // No frame of this request may come any more; it stays in flight (for
  // idle() and the descriptors, not the window of requests) until its
  // commit, which also applies the mode and mtime (the batch's seal, on
  // the worker's thread).
  by_id_.erase(item.id);
  item.state = DownloadState::kCommitting;
  ++committing_;
  commits_.add(*item.landing, item.received, &item,
               CommitBatch::Seal{item.ready.mode, item.ready.mtime_ns});
  if (!worker_.busy() && commits_.due(Clock::now())) flush_commits();
}

void GetPipeline::sync_directory(int dir_fd, int parent_fd, void* cookie) {
  ++directories_;
  commits_.add_directory(dir_fd, parent_fd, cookie);
}

void GetPipeline::commit_due(Session& session) {
  if (auto outcomes = worker_.take()) {
    report_.progress().set_phase(ProgressPhase::kTransfer);
    take_commits(session, *outcomes);
  }
  if (commits_.empty() || worker_.busy()) return;
  // Nothing else in flight: no more files are coming soon.
  if (in_flight_ == committing_ || commits_.due(Clock::now())) flush_commits();
}

void GetPipeline::flush_commits() {
  // Syncing many megabytes may take a while: say so rather than look
  // frozen, when nothing else moves meanwhile.
  if (in_flight_ == committing_) {
    report_.progress().set_phase(ProgressPhase::kVerifying,
                                 commits_.bytes() >= kVerifyingShownFrom);
  }
  worker_.start(commits_);
}

std::vector<DownloadItem*> GetPipeline::abandon_commits() {
  // The partial files are kept for the next attempt once this returns:
  // each must hold what was received, or go.
  writer_.drain();
  for (auto& [id, item] : by_id_) {
    item->writes_queued = false;
    if (!item->write_failure.empty()) item->landing.reset();
  }
  std::vector<DownloadItem*> reported;
  const auto now = Clock::now();
  for (const CommitBatch::Outcome& outcome : worker_.wait()) {
    if (outcome.directory) {
      --directories_;  // the caller forgets its directories anyway
      continue;
    }
    DownloadItem& item = *static_cast<DownloadItem*>(outcome.cookie);
    if (outcome.failure) {
      report(item, Error{ErrorCode::LOCAL_FILE, {}, *outcome.failure});
    } else {
      report_.transferred(item.local_path, item.received,
                          std::chrono::duration<double>(now - item.started).count());
    }
    item.landing.reset();
    item.basis.reset();
    item.state = DownloadState::kDone;
    --in_flight_;
    --committing_;
    reported.push_back(&item);
  }
  return reported;
}

void GetPipeline::take_commits(Session& session,
                               const std::vector<CommitBatch::Outcome>& outcomes) {
  const auto now = Clock::now();
  for (const CommitBatch::Outcome& outcome : outcomes) {
    if (outcome.directory) {
      --directories_;
      listener_.on_directory_synced(session, outcome.cookie, outcome.failure);
      continue;
    }
    DownloadItem& item = *static_cast<DownloadItem*>(outcome.cookie);
    --committing_;
    if (outcome.failure) {
      finish(session, item, Error{ErrorCode::LOCAL_FILE, {}, *outcome.failure}, true);
      continue;
    }
    if (item.delta_used) report_.delta_matched(item.matched_bytes);
    report_.transferred(item.local_path, item.received,
                        std::chrono::duration<double>(now - item.started).count());
    finish(session, item, std::nullopt, false);
  }
}

void GetPipeline::on_error(Session& session, DownloadItem& item, const Frame& frame) {
  ErrorReply reply = read_error_reply(frame, item.remote, item.remote);
  if (reply.violation) return session.protocol_error(*reply.violation);
  if (item.state == DownloadState::kCancelling) return finish(session, item, item.failure, false);
  Error failure = std::move(reply.failure);
  const ErrorCode code = failure.code;
  if (code == ErrorCode::IS_A_DIRECTORY && suggest_recursive_) {
    failure.message += " (use -r to fetch directory trees)";
  }
  // The kept data is longer than the remote file is now.
  if (code == ErrorCode::BAD_OFFSET && item.state == DownloadState::kGetSent &&
      item.start_offset > 0) {
    return start_over(session, item);
  }
  if (code == ErrorCode::SHUTTING_DOWN) {
    // Worth a retry on the next connection, from what we have.
    item.landing->keep();
    item.landing.reset();
    item.retry_reason = failure;
    item.state = DownloadState::kRetryLater;
    by_id_.erase(item.id);
    --in_flight_;
    listener_.on_settled(session, item);
    return;
  }
  finish(session, item, failure, true);
}

// A failure found while data is still coming: report it, ask the server to
// stop, and drop what still arrives until its END or ERROR.
void GetPipeline::cancel(Session& session, DownloadItem& item, Error error) {
  settle_writes(item);  // the partial file is removed below
  report(item, error);
  item.failure = std::move(error);
  item.landing.reset();  // removes the partial data: it failed verification or cannot grow
  item.state = DownloadState::kCancelling;
  Bytes frame;
  encode_cancel(frame, item.id);
  session.send(std::move(frame), item.id);
}

void GetPipeline::finish(Session& session, DownloadItem& item, std::optional<Error> failure,
                         bool print) {
  if (failure && print) report(item, *failure);
  settle_writes(item);
  // A committed file is unaffected; otherwise this removes the partial.
  item.landing.reset();
  item.basis.reset();
  item.failure = std::move(failure);
  if (item.state != DownloadState::kWaiting) {
    --in_flight_;
    by_id_.erase(item.id);
  }
  item.state = DownloadState::kDone;
  listener_.on_settled(session, item);
}

// Errors about the local file name it; the others name the remote path.
void GetPipeline::report(const DownloadItem& item, const Error& error) {
  const bool local = error.code == ErrorCode::LOCAL_FILE;
  report_.failed(item.local_path, error, local ? item.local_path : item.remote);
}

}  // namespace ft::client
