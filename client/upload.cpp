#include "upload.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <iostream>
#include <optional>
#include <unordered_map>

#include "messages.hpp"
#include "path_rules.hpp"
#include "session.hpp"
#include "source_file.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftsend";
// PUT requests in flight at once (the protocol allows 64).
constexpr std::size_t kMaxInFlight = 16;
// Outgoing DATA allowed in the send queue, in chunks: the backpressure that
// bounds memory to a few chunks whatever the file size.
constexpr std::size_t kMaxQueuedChunks = 4;
// Files kept open from the start; later ones are reopened at their turn so
// that a long file list does not exhaust descriptors.
constexpr std::size_t kMaxOpenAtStart = 64;
// Rewinds accepted in one upload. A well-behaved server fails the upload
// itself after limits::kMaxRewinds; this bound only protects the client from
// one that never stops asking.
constexpr int kMaxRewindsAccepted = 8;
static_assert(kMaxRewindsAccepted >= limits::kMaxRewinds);

constexpr const char* kSourceChanged =
    "source changed while being sent (size or mtime moved); nothing was committed";

enum class UploadState {
  kWaiting,     // PUT not sent yet (on this connection)
  kPutSent,     // waiting for PUT_READY
  kStreaming,   // PUT_READY received: DATA then END to send
  kEndSent,     // waiting for OK (or a rewind)
  kCancelling,  // failed locally, CANCEL sent, waiting for the server's ERROR
  kRetryLater,  // the server said BUSY or SHUTTING_DOWN: try on the next connection
  kDone,
};

struct UploadItem {
  std::string local;
  std::string remote;
  std::optional<SourceFile> source;
  UploadState state = UploadState::kWaiting;
  std::uint32_t id = 0;
  std::uint64_t next_offset = 0;  // the next byte to queue
  StreamHash128 hash;             // of bytes [0, next_offset)
  int rewinds = 0;
  std::optional<Error> retry_reason;  // with kRetryLater
  std::optional<Error> failure;
};

// One connection's worth of uploads: PUTs for the files not done yet.
class UploadJob : public SessionHandler {
 public:
  UploadJob(std::vector<UploadItem>& items, const UploadOptions& options)
      : items_(items), options_(options) {
    for (const UploadItem& item : items_) {
      if (item.state == UploadState::kDone) ++settled_;
    }
  }

  void produce(Session& session) override {
    // The PUT depends on whether RESUME was agreed: wait for the hello.
    if (!session.hello_received()) return;
    send_requests(session);
    const std::size_t budget = kMaxQueuedChunks * options_.chunk_size;
    while (!streaming_.empty() && session.connection().queued_chunk_bytes() < budget) {
      stream_step(session, items_[streaming_.front()]);
    }
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    auto found = by_id_.find(id);
    if (found == by_id_.end() || is_settled(items_[found->second])) {
      session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                             " for request " + std::to_string(id));
      return;
    }
    UploadItem& item = items_[found->second];
    switch (frame.header.type) {
      case FrameType::kPutReady:
        return on_put_ready(session, item, frame);
      case FrameType::kOk:
        return on_ok(session, item);
      case FrameType::kError:
        return on_error(session, item, frame);
      default:
        session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                               " for upload request " + std::to_string(id));
    }
  }

  bool finished() const override { return settled_ == items_.size(); }

 private:
  static bool is_settled(const UploadItem& item) {
    return item.state == UploadState::kDone || item.state == UploadState::kRetryLater;
  }

  void send_requests(Session& session) {
    while (in_flight_ < kMaxInFlight && next_to_send_ < items_.size()) {
      UploadItem& item = items_[next_to_send_++];
      if (item.state != UploadState::kWaiting) continue;
      if (!item.source) {
        std::string why;
        item.source = SourceFile::open(item.local, why);
        if (!item.source) {
          finish(item, Error{ErrorCode::LOCAL_FILE, {}, why}, printable(item.local));
          continue;
        }
      }
      item.id = next_id_++;
      by_id_[item.id] = index_of(item);
      PutMsg put;
      put.path = item.remote;
      put.size = item.source->size();
      put.mode = item.source->mode();
      put.mtime_ns = item.source->mtime_ns();
      put.chunk_size = options_.chunk_size;
      if (session.resume_agreed()) {
        put.put_flags = kPutResumable;
        put.source_id = source_id_for(item.source->device(), item.source->inode());
      }
      Bytes frame;
      encode_put(frame, item.id, put);
      session.send(std::move(frame), item.id);
      item.state = UploadState::kPutSent;
      ++in_flight_;
    }
  }

  void on_put_ready(Session& session, UploadItem& item, const Frame& frame) {
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
      default:
        break;
    }
    session.protocol_error("PUT_READY twice for request " + std::to_string(item.id));
  }

  // The first PUT_READY: where to start. The END hash covers the whole file,
  // so the bytes the server already has are hashed first; with RESUME that
  // same hash is compared with the server's prefix hash.
  void start_streaming(Session& session, UploadItem& item, const PutReadyMsg& ready) {
    const std::uint64_t size = item.source->size();
    std::uint64_t start = ready.offset;
    if (!session.resume_agreed()) {
      if (ready.offset > size) {
        return session.protocol_error("PUT_READY offset beyond the end of " +
                                      printable(item.remote));
      }
      if (!hash_prefix(session, item, start)) return;
    } else if (start > 0) {
      bool same = start <= size;
      if (same) {
        if (!hash_prefix(session, item, start)) return;
        same = ready.prefix_hash && item.hash.digest() == *ready.prefix_hash;
      }
      if (!same) {
        item.hash.reset();
        start = 0;
        if (options_.verbosity != Verbosity::kQuiet) {
          report_message(kProgram, printable(item.local) +
                                       ": server's partial data differs; sending from the start");
        }
      }
    }
    if (start > 0 && options_.verbosity == Verbosity::kVerbose) {
      std::cout << "resumed " << printable(item.remote) << " at " << start << " of " << size
                << " bytes\n"
                << std::flush;
    }
    item.next_offset = start;
    item.state = UploadState::kStreaming;
    streaming_.push_back(index_of(item));
  }

  // A later PUT_READY: a chunk failed its hash on the server, which wants
  // the data again from `ready.offset`. Frames of this upload still in our
  // queue are dropped; those already in the kernel the server discards.
  void rewind(Session& session, UploadItem& item, const PutReadyMsg& ready) {
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
    item.hash.reset();
    if (!hash_prefix(session, item, ready.offset)) return;
    if (!ready.prefix_hash || item.hash.digest() != *ready.prefix_hash) {
      return cancel(session, item,
                    Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
                          "the server's data before offset " + at + " differs from the source"});
    }
    if (options_.verbosity == Verbosity::kVerbose) {
      std::cout << "resending " << printable(item.remote) << " from " << at
                << " (a chunk failed its checksum)\n"
                << std::flush;
    }
    item.next_offset = ready.offset;
    if (item.state == UploadState::kEndSent) {
      item.state = UploadState::kStreaming;
      streaming_.push_back(index_of(item));
    }
  }

  void on_ok(Session& session, UploadItem& item) {
    if (item.state == UploadState::kCancelling) {
      // Our CANCEL came too late: the file is committed, but it was already
      // reported as failed, so it stays failed.
      return finish(item, item.failure, {});
    }
    if (item.state != UploadState::kEndSent) {
      return session.protocol_error("OK before END for request " + std::to_string(item.id));
    }
    if (options_.verbosity == Verbosity::kVerbose) {
      std::cout << "sent " << printable(item.remote) << ' ' << item.source->size() << " bytes\n"
                << std::flush;
    }
    finish(item, std::nullopt, {});
  }

  void on_error(Session& session, UploadItem& item, const Frame& frame) {
    auto error = decode_error(frame.payload);
    if (!error) return session.protocol_error("malformed ERROR");
    session.connection().drop_unsent(item.id);
    if (item.state == UploadState::kCancelling) {
      // Already reported: this is the server acknowledging our CANCEL.
      finish(item, item.failure, {});
      return;
    }
    auto code = static_cast<ErrorCode>(error->code);
    std::string message =
        error->message.empty() ? std::string(default_message(code)) : printable(error->message);
    if (code == ErrorCode::BUSY || code == ErrorCode::SHUTTING_DOWN) {
      // Another connection still holds the partial data (often our own dead
      // one, not yet noticed), or the server is stopping: worth a retry.
      return defer(item, Error{code, item.remote, message});
    }
    finish(item, Error{code, item.remote, message}, printable(item.remote));
  }

  // Queues the next DATA frame of `item`, or its END when all is queued.
  void stream_step(Session& session, UploadItem& item) {
    SourceFile& source = *item.source;
    if (item.next_offset == source.size()) {
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
    const auto length = static_cast<std::size_t>(
        std::min<std::uint64_t>(options_.chunk_size, source.size() - item.next_offset));
    Bytes chunk = session.connection().take_spare_buffer();
    chunk.resize(length);
    if (!read_source(session, item, item.next_offset, chunk)) return;
    item.hash.update(chunk);
    Bytes head(kDataHeadSize);
    encode_data_head(head.data(), item.id, item.next_offset, hash64(chunk),
                     static_cast<std::uint32_t>(length));
    session.connection().queue_data(item.id, std::move(head), std::move(chunk));
    item.next_offset += length;
  }

  // Adds bytes [0, end) of the source to the item's hash; on failure the
  // upload is cancelled and false returned.
  bool hash_prefix(Session& session, UploadItem& item, std::uint64_t end) {
    Bytes buffer = session.connection().take_spare_buffer();
    for (std::uint64_t at = 0; at < end;) {
      auto length =
          static_cast<std::size_t>(std::min<std::uint64_t>(options_.chunk_size, end - at));
      buffer.resize(length);
      if (!read_source(session, item, at, buffer)) return false;
      item.hash.update(buffer);
      at += length;
    }
    return true;
  }

  // Reads source bytes; a failed or short read cancels the upload, as a
  // changed source when size or mtime moved.
  bool read_source(Session& session, UploadItem& item, std::uint64_t offset,
                   std::span<std::uint8_t> out) {
    std::string why;
    if (item.source->read_at(offset, out, why)) return true;
    std::string stat_why;
    if (item.source->check_unchanged(stat_why) == SourceFile::Check::kChanged) {
      cancel(session, item, Error{ErrorCode::SOURCE_CHANGED, {}, kSourceChanged});
    } else {
      cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    return false;
  }

  // A local failure in the middle of an upload: report it now, tell the
  // server, and wait for its ERROR before the request counts as finished.
  void cancel(Session& session, UploadItem& item, Error error) {
    const bool local = error.path.empty();
    report_error(kProgram, printable(local ? item.local : item.remote), error);
    item.failure = std::move(error);
    item.state = UploadState::kCancelling;
    std::erase(streaming_, index_of(item));
    session.connection().drop_unsent(item.id);
    Bytes frame;
    encode_cancel(frame, item.id);
    session.send(std::move(frame), item.id);
  }

  // Marks the item done; prints the failure (if any) under `subject`.
  void finish(UploadItem& item, std::optional<Error> failure, const std::string& subject) {
    if (failure && !subject.empty()) report_error(kProgram, subject, *failure);
    if (item.state != UploadState::kWaiting) --in_flight_;
    std::erase(streaming_, index_of(item));
    item.failure = std::move(failure);
    item.state = UploadState::kDone;
    if (item.source) item.source->close();
    ++settled_;
  }

  void defer(UploadItem& item, Error reason) {
    --in_flight_;
    std::erase(streaming_, index_of(item));
    item.retry_reason = std::move(reason);
    item.state = UploadState::kRetryLater;
    ++settled_;
  }

  std::size_t index_of(const UploadItem& item) const {
    return static_cast<std::size_t>(&item - items_.data());
  }

  std::vector<UploadItem>& items_;
  const UploadOptions& options_;
  std::unordered_map<std::uint32_t, std::size_t> by_id_;
  std::deque<std::size_t> streaming_;  // PUT_READY arrival order
  std::size_t next_to_send_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t settled_ = 0;  // done, or deferred to the next connection
  std::uint32_t next_id_ = 1;
};

// Every attempt of the command: one UploadJob per connection over the same
// items, so that files that got OK (or failed for good) are not sent again.
class UploadWork : public RetryableWork {
 public:
  UploadWork(std::vector<UploadItem>& items, const UploadOptions& options)
      : items_(items), options_(options) {}

  void prepare_attempt() override {
    for (UploadItem& item : items_) {
      if (item.state == UploadState::kDone) continue;
      if (item.state == UploadState::kCancelling) {
        // Failed and reported already; only the server's answer was missing.
        item.state = UploadState::kDone;
        if (item.source) item.source->close();
        continue;
      }
      // The source stays open: its first fstat stays the reference for the
      // "source changed" check, and the PUT names the same size and mtime,
      // so the server finds its partial data again.
      item.state = UploadState::kWaiting;
      item.id = 0;
      item.next_offset = 0;
      item.hash.reset();
      item.rewinds = 0;
      item.retry_reason.reset();
    }
  }

  bool all_done() const override {
    return std::all_of(items_.begin(), items_.end(),
                       [](const UploadItem& item) { return item.state == UploadState::kDone; });
  }

  std::optional<Error> attempt() override {
    UploadJob job(items_, options_);
    return connect_and_run(options_.remote.host, options_.remote.port, job);
  }

  std::vector<std::string> deferred() const override {
    std::vector<std::string> out;
    for (const UploadItem& item : items_) {
      if (item.state != UploadState::kRetryLater) continue;
      out.push_back(printable(item.remote) + ": " + item.retry_reason->message + " (" +
                    to_string(item.retry_reason->code) + ")");
    }
    return out;
  }

  void give_up(const std::optional<Error>& failure) override {
    for (UploadItem& item : items_) {
      if (item.state == UploadState::kDone) continue;
      if (item.state == UploadState::kRetryLater) {
        item.failure = item.retry_reason;
        report_error(kProgram, printable(item.remote), *item.failure);
      } else if (!item.failure) {
        item.failure = failure;
      }
      item.state = UploadState::kDone;
      if (item.source) item.source->close();
    }
  }

 private:
  std::vector<UploadItem>& items_;
  const UploadOptions& options_;
};

// Opens every file before anything goes on the wire, so that local
// problems are reported at once and cost no round trip.
std::vector<UploadItem> prepare(const UploadOptions& options) {
  std::vector<UploadItem> items(options.files.size());
  for (std::size_t i = 0; i < options.files.size(); ++i) {
    UploadItem& item = items[i];
    item.local = options.files[i];
    item.remote = remote_path_for(options.remote.path, item.local);
    std::string why;
    if (auto violation = path_violation(item.remote, false)) {
      item.failure = Error{ErrorCode::BAD_PATH, item.remote, "remote name refused: " + *violation};
      report_error(kProgram, printable(item.local), *item.failure);
    } else if (item.source = SourceFile::open(item.local, why); !item.source) {
      item.failure = Error{ErrorCode::LOCAL_FILE, {}, why};
      report_error(kProgram, printable(item.local), *item.failure);
    } else if (i >= kMaxOpenAtStart) {
      item.source.reset();  // reopened when its PUT is sent
    }
    if (item.failure) item.state = UploadState::kDone;
  }
  return items;
}

std::vector<std::optional<Error>> failures_of(const std::vector<UploadItem>& items) {
  std::vector<std::optional<Error>> out;
  out.reserve(items.size());
  for (const UploadItem& item : items) out.push_back(item.failure);
  return out;
}

}  // namespace

std::string remote_path_for(const std::string& dir, const std::string& local) {
  std::string_view name = local;
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  if (auto slash = name.rfind('/'); slash != std::string_view::npos && name.size() > 1) {
    name.remove_prefix(slash + 1);
  }
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
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

int run_upload(const UploadOptions& options) {
  std::vector<UploadItem> items = prepare(options);
  UploadWork work(items, options);
  run_with_retries(kProgram, work, options.retries, options.verbosity == Verbosity::kQuiet);
  return exit_status_of(failures_of(items));
}

}  // namespace ft::client
