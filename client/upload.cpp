#include "upload.hpp"

#include <algorithm>
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

enum class UploadState {
  kWaiting,     // PUT not sent yet
  kPutSent,     // waiting for PUT_READY
  kStreaming,   // PUT_READY received: DATA then END to send
  kEndSent,     // waiting for OK
  kCancelling,  // failed locally, CANCEL sent, waiting for the server's ERROR
  kDone,
};

struct UploadItem {
  std::string local;
  std::string remote;
  std::optional<SourceFile> source;
  UploadState state = UploadState::kWaiting;
  std::uint32_t id = 0;
  std::uint64_t next_offset = 0;
  StreamHash128 hash;
  std::optional<Error> failure;
};

class UploadJob : public SessionHandler {
 public:
  UploadJob(std::vector<UploadItem>& items, const UploadOptions& options)
      : items_(items), options_(options) {
    for (const UploadItem& item : items_) {
      if (item.state == UploadState::kDone) ++done_;
    }
  }

  void produce(Session& session) override {
    send_requests(session);
    const std::size_t budget = kMaxQueuedChunks * options_.chunk_size;
    while (!streaming_.empty() && session.connection().queued_chunk_bytes() < budget) {
      stream_step(session, items_[streaming_.front()]);
    }
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    auto found = by_id_.find(id);
    if (found == by_id_.end() || items_[found->second].state == UploadState::kDone) {
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

  bool finished() const override { return done_ == items_.size(); }

  /// After a connection failure: every unfinished file fails with it.
  void fail_unfinished(const Error& error) {
    for (UploadItem& item : items_) {
      if (item.state != UploadState::kDone && !item.failure) item.failure = error;
    }
  }

 private:
  void send_requests(Session& session) {
    while (in_flight_ < kMaxInFlight && next_to_send_ < items_.size()) {
      UploadItem& item = items_[next_to_send_++];
      if (item.state != UploadState::kWaiting) continue;
      if (!item.source) {
        std::string why;
        item.source = SourceFile::open(item.local, why);
        if (!item.source) {
          finish(item, Error{ErrorCode::LOCAL_FILE, {}, why}, item.local);
          continue;
        }
      }
      item.id = next_id_++;
      by_id_[item.id] = static_cast<std::size_t>(&item - items_.data());
      PutMsg put;
      put.path = item.remote;
      put.size = item.source->size();
      put.mode = item.source->mode();
      put.mtime_ns = item.source->mtime_ns();
      put.chunk_size = options_.chunk_size;
      Bytes frame;
      encode_put(frame, item.id, put);
      session.send(std::move(frame), item.id);
      item.state = UploadState::kPutSent;
      ++in_flight_;
    }
  }

  void on_put_ready(Session& session, UploadItem& item, const Frame& frame) {
    auto ready = decode_put_ready(frame.payload, false);
    if (!ready) return session.protocol_error("malformed PUT_READY");
    if (item.state != UploadState::kPutSent) {
      return session.protocol_error("PUT_READY twice for request " + std::to_string(item.id));
    }
    if (ready->offset > item.source->size()) {
      return session.protocol_error("PUT_READY offset beyond the end of " + printable(item.remote));
    }
    // The END hash covers the whole file, so a resumed upload hashes the
    // part the server already has first.
    std::string why;
    if (!hash_prefix(session, item, ready->offset, why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    item.next_offset = ready->offset;
    item.state = UploadState::kStreaming;
    streaming_.push_back(index_of(item));
  }

  void on_ok(Session& session, UploadItem& item) {
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
    finish(item, Error{code, item.remote, message}, printable(item.remote));
  }

  // Queues the next DATA frame of `item`, or its END when all is queued.
  void stream_step(Session& session, UploadItem& item) {
    SourceFile& source = *item.source;
    std::string why;
    if (item.next_offset == source.size()) {
      if (!source.unchanged(why))
        return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
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
    if (!source.read_at(item.next_offset, chunk, why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    item.hash.update(chunk);
    Bytes head(kDataHeadSize);
    encode_data_head(head.data(), item.id, item.next_offset, hash64(chunk),
                     static_cast<std::uint32_t>(length));
    session.connection().queue_data(item.id, std::move(head), std::move(chunk));
    item.next_offset += length;
  }

  bool hash_prefix(Session& session, UploadItem& item, std::uint64_t end, std::string& why) {
    Bytes buffer = session.connection().take_spare_buffer();
    for (std::uint64_t at = 0; at < end;) {
      auto length =
          static_cast<std::size_t>(std::min<std::uint64_t>(options_.chunk_size, end - at));
      buffer.resize(length);
      if (!item.source->read_at(at, buffer, why)) return false;
      item.hash.update(buffer);
      at += length;
    }
    return true;
  }

  // A local failure in the middle of an upload: report it now, tell the
  // server, and wait for its ERROR before the request counts as finished.
  void cancel(Session& session, UploadItem& item, Error error) {
    report_error(kProgram, item.local, error);
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
    ++done_;
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
  std::size_t done_ = 0;
  std::uint32_t next_id_ = 1;
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

int run_upload(const UploadOptions& options) {
  std::vector<UploadItem> items = prepare(options);
  UploadJob job(items, options);
  if (job.finished()) return exit_status_of(failures_of(items));

  const std::string where = host_port_text(options.remote.host, options.remote.port);
  std::string why;
  auto connection = Connection::open(options.remote.host, options.remote.port,
                                     std::chrono::milliseconds(kConnectTimeout), why);
  if (!connection) {
    Error error{ErrorCode::CONNECT_FAILED, {}, "cannot connect to " + where + ": " + why};
    report_error(kProgram, {}, error);
    job.fail_unfinished(error);
    return exit_status_of(failures_of(items));
  }
  Session session(std::move(*connection));
  if (auto failure = session.run(job)) {
    report_error(kProgram, {}, *failure);
    job.fail_unfinished(*failure);
  }
  return exit_status_of(failures_of(items));
}

}  // namespace ft::client
