#include "download.hpp"

#include <algorithm>
#include <iostream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "landing_file.hpp"
#include "local_dir.hpp"
#include "messages.hpp"
#include "path_rules.hpp"
#include "session.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftget";
// GET requests in flight at once (the protocol allows 64).
constexpr std::size_t kMaxInFlight = 16;
// Bytes read at a time when hashing the kept prefix of a partial file.
constexpr std::size_t kPrefixReadSize = 1024 * 1024;

enum class DownloadState {
  kWaiting,     // GET not sent yet (on this connection)
  kGetSent,     // waiting for GET_READY
  kReceiving,   // DATA until END
  kCancelling,  // failed locally, CANCEL sent: ignore DATA until END or ERROR
  kRetryLater,  // the server is shutting down: try on the next connection
  kDone,
};

struct DownloadItem {
  std::string remote;
  std::string local_name;
  DownloadState state = DownloadState::kWaiting;
  std::uint32_t id = 0;
  std::uint64_t start_offset = 0;         // the GET's offset
  std::optional<PartialRecord> resuming;  // the record of the kept data, when resuming
  GetReadyMsg ready;
  std::uint64_t received = 0;  // bytes [0, received) are in the partial file
  StreamHash128 hash;          // of those bytes
  std::optional<LandingFile> landing;
  std::optional<Error> retry_reason;  // with kRetryLater
  std::optional<Error> failure;
};

// One connection's worth of downloads: GETs for the files not done yet.
class DownloadJob : public SessionHandler {
 public:
  DownloadJob(std::vector<DownloadItem>& items, const DownloadOptions& options, int dir_fd)
      : items_(items), options_(options), dir_fd_(dir_fd) {
    for (const DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) ++settled_;
    }
  }

  void produce(Session& session) override {
    while (in_flight_ < kMaxInFlight && next_to_send_ < items_.size()) {
      DownloadItem& item = items_[next_to_send_++];
      if (item.state != DownloadState::kWaiting) continue;
      std::string why;
      item.landing = LandingFile::open(dir_fd_, item.local_name, why);
      if (!item.landing) {
        finish(item, Error{ErrorCode::LOCAL_FILE, {}, why}, true);
        continue;
      }
      ++in_flight_;
      send_get(session, item, resume_offset(item));
    }
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (abandoned_.contains(id)) {
      // A GET we cancelled to start over: drop its frames until it ends.
      if (frame.header.type == FrameType::kEnd || frame.header.type == FrameType::kError) {
        abandoned_.erase(id);
      }
      return;
    }
    auto found = by_id_.find(id);
    if (found == by_id_.end() || is_settled(items_[found->second])) {
      // One ERROR may still come for a request we cancelled after its END
      // was already on its way.
      if (frame.header.type == FrameType::kError && late_cancel_replies_.erase(id) > 0) return;
      session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                             " for request " + std::to_string(id));
      return;
    }
    DownloadItem& item = items_[found->second];
    switch (frame.header.type) {
      case FrameType::kGetReady:
        return on_get_ready(session, item, frame);
      case FrameType::kData:
        return on_data(session, item, frame);
      case FrameType::kEnd:
        return on_end(session, item, frame);
      case FrameType::kError:
        return on_error(session, item, frame);
      default:
        session.protocol_error("unexpected " + frame_type_name(std::uint8_t(frame.header.type)) +
                               " for download request " + std::to_string(id));
    }
  }

  bool finished() const override { return settled_ == items_.size() && abandoned_.empty(); }

 private:
  static bool is_settled(const DownloadItem& item) {
    return item.state == DownloadState::kDone || item.state == DownloadState::kRetryLater;
  }

  // Where the kept partial data lets the download start: its length, if
  // its record names this remote file and the data is not longer than that
  // file was; otherwise 0 (the data is emptied at GET_READY).
  std::uint64_t resume_offset(DownloadItem& item) {
    item.resuming.reset();
    const std::uint64_t length = item.landing->length_at_open();
    if (length == 0) return 0;
    auto record = item.landing->record();
    if (!record || record->remote_path != item.remote || length > record->size) return 0;
    item.resuming = record;
    return length;
  }

  void send_get(Session& session, DownloadItem& item, std::uint64_t offset) {
    item.id = next_id_++;
    by_id_[item.id] = static_cast<std::size_t>(&item - items_.data());
    item.start_offset = offset;
    Bytes frame;
    encode_get(frame, item.id, GetMsg{item.remote, offset});
    session.send(std::move(frame), item.id);
    item.state = DownloadState::kGetSent;
  }

  // The kept data belongs to another version of the remote file: forget it
  // and ask for the whole file on the same connection.
  void start_over(Session& session, DownloadItem& item) {
    if (options_.verbosity != Verbosity::kQuiet) {
      report_message(kProgram, printable(item.remote) + ": remote file changed; starting over");
    }
    by_id_.erase(item.id);
    item.resuming.reset();
    send_get(session, item, 0);
  }

  void on_get_ready(Session& session, DownloadItem& item, const Frame& frame) {
    auto ready = decode_get_ready(frame.payload);
    if (!ready) return session.protocol_error("malformed GET_READY");
    if (item.state != DownloadState::kGetSent) {
      return session.protocol_error("GET_READY twice for request " + std::to_string(item.id));
    }
    item.ready = *ready;
    item.state = DownloadState::kReceiving;
    item.hash.reset();
    item.received = 0;
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
      if (options_.verbosity == Verbosity::kVerbose) {
        std::cout << "resumed " << printable(local_path(item)) << " at " << item.start_offset
                  << " of " << ready->size << " bytes\n"
                  << std::flush;
      }
      return;
    }
    if (!item.landing->start_over(PartialRecord{item.remote, ready->size, ready->mtime_ns}, why)) {
      cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
  }

  bool hash_kept_prefix(DownloadItem& item, std::string& why) {
    Bytes buffer;
    for (std::uint64_t at = 0; at < item.start_offset;) {
      auto length = static_cast<std::size_t>(
          std::min<std::uint64_t>(kPrefixReadSize, item.start_offset - at));
      buffer.resize(length);
      if (!item.landing->read_at(at, buffer, why)) return false;
      item.hash.update(buffer);
      at += length;
    }
    return true;
  }

  void on_data(Session& session, DownloadItem& item, const Frame& frame) {
    auto data = decode_data(frame.payload);
    if (!data) return session.protocol_error("malformed DATA");
    if (item.state == DownloadState::kCancelling) return;
    if (item.state != DownloadState::kReceiving) {
      return session.protocol_error("DATA before GET_READY for request " + std::to_string(item.id));
    }
    if (data->offset != item.received) {
      return cancel(session, item,
                    Error{ErrorCode::PROTOCOL, item.remote,
                          "DATA at offset " + std::to_string(data->offset) + ", expected " +
                              std::to_string(item.received)});
    }
    if (data->bytes.size() > item.ready.chunk_size) {
      return cancel(session, item,
                    Error{ErrorCode::PROTOCOL, item.remote, "DATA larger than the chunk size"});
    }
    if (data->bytes.size() > item.ready.size - item.received) {
      return cancel(session, item,
                    Error{ErrorCode::SIZE_MISMATCH, item.remote,
                          "more data than the declared size of " + std::to_string(item.ready.size) +
                              " bytes"});
    }
    if (hash64(data->bytes) != data->chunk_hash) {
      return cancel(
          session, item,
          Error{ErrorCode::CHECKSUM_MISMATCH, item.remote,
                "checksum mismatch in the chunk at offset " + std::to_string(data->offset)});
    }
    std::string why;
    if (!item.landing->write_at(data->offset, data->bytes, why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    item.hash.update(data->bytes);
    item.received += data->bytes.size();
  }

  void on_end(Session& session, DownloadItem& item, const Frame& frame) {
    auto end = decode_end(frame.payload);
    if (!end) return session.protocol_error("malformed END");
    if (item.state == DownloadState::kCancelling) {
      late_cancel_replies_.insert(item.id);
      return finish(item, item.failure, false);
    }
    if (item.state != DownloadState::kReceiving) {
      return session.protocol_error("END before GET_READY for request " + std::to_string(item.id));
    }
    if (end->total_size != item.ready.size || item.received != item.ready.size) {
      return finish(item,
                    Error{ErrorCode::SIZE_MISMATCH, item.remote,
                          "size mismatch: " + std::to_string(item.received) + " bytes received, " +
                              std::to_string(item.ready.size) + " announced, END says " +
                              std::to_string(end->total_size)},
                    true);
    }
    if (end->file_hash != item.hash.digest()) {
      return finish(item, Error{ErrorCode::CHECKSUM_MISMATCH, item.remote, "checksum mismatch"},
                    true);
    }
    std::string why;
    if (!item.landing->commit(item.ready.mode, item.ready.mtime_ns, why)) {
      return finish(item, Error{ErrorCode::LOCAL_FILE, {}, why}, true);
    }
    if (options_.verbosity == Verbosity::kVerbose) {
      std::cout << "received " << printable(local_path(item)) << ' ' << item.received << " bytes\n"
                << std::flush;
    }
    finish(item, std::nullopt, false);
  }

  void on_error(Session& session, DownloadItem& item, const Frame& frame) {
    auto error = decode_error(frame.payload);
    if (!error) return session.protocol_error("malformed ERROR");
    if (item.state == DownloadState::kCancelling) return finish(item, item.failure, false);
    auto code = static_cast<ErrorCode>(error->code);
    // The kept data is longer than the remote file is now.
    if (code == ErrorCode::BAD_OFFSET && item.state == DownloadState::kGetSent &&
        item.start_offset > 0) {
      return start_over(session, item);
    }
    std::string message =
        error->message.empty() ? std::string(default_message(code)) : printable(error->message);
    if (code == ErrorCode::SHUTTING_DOWN) {
      // Worth a retry on the next connection, from what we have.
      item.landing->keep();
      item.landing.reset();
      item.retry_reason = Error{code, item.remote, message};
      item.state = DownloadState::kRetryLater;
      --in_flight_;
      ++settled_;
      return;
    }
    finish(item, Error{code, item.remote, message}, true);
  }

  // A failure found while data is still coming: report it, ask the server to
  // stop, and drop what still arrives until its END or ERROR.
  void cancel(Session& session, DownloadItem& item, Error error) {
    report(item, error);
    item.failure = std::move(error);
    item.landing.reset();  // removes the partial data: it failed verification or cannot grow
    item.state = DownloadState::kCancelling;
    Bytes frame;
    encode_cancel(frame, item.id);
    session.send(std::move(frame), item.id);
  }

  void finish(DownloadItem& item, std::optional<Error> failure, bool print) {
    if (failure && print) report(item, *failure);
    // A committed file is unaffected; otherwise this removes the partial.
    item.landing.reset();
    item.failure = std::move(failure);
    if (item.state != DownloadState::kWaiting) --in_flight_;
    item.state = DownloadState::kDone;
    ++settled_;
  }

  // Errors about the local file name it; the others name the remote path.
  void report(const DownloadItem& item, const Error& error) const {
    const bool local = error.code == ErrorCode::LOCAL_FILE;
    report_error(kProgram, printable(local ? local_path(item) : item.remote), error);
  }

  std::string local_path(const DownloadItem& item) const {
    return options_.local_dir == "." ? item.local_name : options_.local_dir + "/" + item.local_name;
  }

  std::vector<DownloadItem>& items_;
  const DownloadOptions& options_;
  int dir_fd_;
  std::unordered_map<std::uint32_t, std::size_t> by_id_;
  std::unordered_set<std::uint32_t> late_cancel_replies_;
  std::unordered_set<std::uint32_t> abandoned_;
  std::size_t next_to_send_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t settled_ = 0;  // done, or deferred to the next connection
  std::uint32_t next_id_ = 1;
};

// Every attempt of the command: one DownloadJob per connection over the
// same items. Whatever ends an attempt, the partial data of the files not
// finished is kept (synced) for the next attempt or the next run.
class DownloadWork : public RetryableWork {
 public:
  DownloadWork(std::vector<DownloadItem>& items, const DownloadOptions& options, int dir_fd)
      : items_(items), options_(options), dir_fd_(dir_fd) {}

  void prepare_attempt() override {
    for (DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) continue;
      if (item.state == DownloadState::kCancelling) {
        item.state = DownloadState::kDone;  // failed and reported already
        continue;
      }
      item.state = DownloadState::kWaiting;
      item.id = 0;
      item.received = 0;
      item.hash.reset();
      item.resuming.reset();
      item.retry_reason.reset();
    }
  }

  bool all_done() const override {
    return std::all_of(items_.begin(), items_.end(),
                       [](const DownloadItem& item) { return item.state == DownloadState::kDone; });
  }

  std::optional<Error> attempt() override {
    DownloadJob job(items_, options_, dir_fd_);
    auto failure = connect_and_run(options_.host, options_.port, job);
    for (DownloadItem& item : items_) {
      if (item.landing) {
        item.landing->keep();
        item.landing.reset();
      }
    }
    return failure;
  }

  std::vector<std::string> deferred() const override {
    std::vector<std::string> out;
    for (const DownloadItem& item : items_) {
      if (item.state != DownloadState::kRetryLater) continue;
      out.push_back(printable(item.remote) + ": " + item.retry_reason->message + " (" +
                    to_string(item.retry_reason->code) + ")");
    }
    return out;
  }

  void give_up(const std::optional<Error>& failure) override {
    for (DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) continue;
      if (item.state == DownloadState::kRetryLater) {
        item.failure = item.retry_reason;
        report_error(kProgram, printable(item.remote), *item.failure);
      } else if (!item.failure) {
        item.failure = failure;
      }
      item.state = DownloadState::kDone;
    }
  }

 private:
  std::vector<DownloadItem>& items_;
  const DownloadOptions& options_;
  int dir_fd_;
};

std::vector<std::optional<Error>> failures_of(const std::vector<DownloadItem>& items) {
  std::vector<std::optional<Error>> out;
  out.reserve(items.size());
  for (const DownloadItem& item : items) out.push_back(item.failure);
  return out;
}

}  // namespace

std::string local_name_for(const std::string& remote_path) {
  auto slash = remote_path.rfind('/');
  return slash == std::string::npos ? remote_path : remote_path.substr(slash + 1);
}

int run_download(const DownloadOptions& options) {
  std::vector<DownloadItem> items(options.paths.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].remote = options.paths[i];
    items[i].local_name = local_name_for(options.paths[i]);
  }
  std::string why;
  auto dir = LocalDirectory::open_or_create(options.local_dir, why);
  if (!dir) {
    report_message(kProgram, printable(options.local_dir) + ": " + why);
    return static_cast<int>(Exit::kLocalFile);
  }
  DownloadWork work(items, options, dir->fd());
  run_with_retries(kProgram, work, options.retries, options.verbosity == Verbosity::kQuiet);
  return exit_status_of(failures_of(items));
}

}  // namespace ft::client
