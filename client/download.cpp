#include "download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

enum class DownloadState {
  kWaiting,     // GET not sent yet
  kGetSent,     // waiting for GET_READY
  kReceiving,   // DATA until END
  kCancelling,  // failed locally, CANCEL sent: ignore DATA until END or ERROR
  kDone,
};

struct DownloadItem {
  std::string remote;
  std::string local_name;
  DownloadState state = DownloadState::kWaiting;
  std::uint32_t id = 0;
  GetReadyMsg ready;
  std::uint64_t received = 0;
  StreamHash128 hash;
  std::optional<LandingFile> landing;
  std::optional<Error> failure;
};

class DownloadJob : public SessionHandler {
 public:
  DownloadJob(std::vector<DownloadItem>& items, const DownloadOptions& options, int dir_fd)
      : items_(items), options_(options), dir_fd_(dir_fd) {}

  void produce(Session& session) override {
    while (in_flight_ < kMaxInFlight && next_to_send_ < items_.size()) {
      DownloadItem& item = items_[next_to_send_++];
      item.id = next_id_++;
      by_id_[item.id] = static_cast<std::size_t>(&item - items_.data());
      Bytes frame;
      encode_get(frame, item.id, GetMsg{item.remote, 0});
      session.send(std::move(frame), item.id);
      item.state = DownloadState::kGetSent;
      ++in_flight_;
    }
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    auto found = by_id_.find(id);
    if (found == by_id_.end() || items_[found->second].state == DownloadState::kDone) {
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

  bool finished() const override { return done_ == items_.size(); }

  void fail_unfinished(const Error& error) {
    for (DownloadItem& item : items_) {
      if (item.state != DownloadState::kDone && !item.failure) item.failure = error;
      item.landing.reset();  // removes any temporary file
    }
  }

 private:
  void on_get_ready(Session& session, DownloadItem& item, const Frame& frame) {
    auto ready = decode_get_ready(frame.payload);
    if (!ready) return session.protocol_error("malformed GET_READY");
    if (item.state != DownloadState::kGetSent) {
      return session.protocol_error("GET_READY twice for request " + std::to_string(item.id));
    }
    item.ready = *ready;
    item.state = DownloadState::kReceiving;
    std::string why;
    item.landing = LandingFile::create(dir_fd_, item.local_name, why);
    if (!item.landing) cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
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
    std::string message =
        error->message.empty() ? std::string(default_message(code)) : printable(error->message);
    finish(item, Error{code, item.remote, message}, true);
  }

  // A failure found while data is still coming: report it, ask the server to
  // stop, and drop what still arrives until its END or ERROR.
  void cancel(Session& session, DownloadItem& item, Error error) {
    report(item, error);
    item.failure = std::move(error);
    item.landing.reset();
    item.state = DownloadState::kCancelling;
    Bytes frame;
    encode_cancel(frame, item.id);
    session.send(std::move(frame), item.id);
  }

  void finish(DownloadItem& item, std::optional<Error> failure, bool print) {
    if (failure && print) report(item, *failure);
    item.landing.reset();  // a committed file is unaffected; otherwise removes the temporary
    item.failure = std::move(failure);
    item.state = DownloadState::kDone;
    --in_flight_;
    ++done_;
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
  std::size_t next_to_send_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t done_ = 0;
  std::uint32_t next_id_ = 1;
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
  DownloadJob job(items, options, dir->fd());

  const std::string where = host_port_text(options.host, options.port);
  auto connection =
      Connection::open(options.host, options.port, std::chrono::milliseconds(kConnectTimeout), why);
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
