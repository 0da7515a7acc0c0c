#include "client/transfer/upload.hpp"

#include <algorithm>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

// Files kept open from the start; later ones are reopened at their turn so
// that a long file list does not exhaust descriptors.
constexpr std::size_t kMaxOpenAtStart = 64;

// Where `ftsend FILE HOST/NAME` puts FILE (scp's rule): NAME/FILE when NAME
// is a remote directory, else NAME itself. Asked once (STAT NAME) on the
// first connection, before the PUT; nullopt until answered.
struct SingleTarget {
  std::string name;  // NAME
  std::optional<bool> is_directory;
};

// One connection's worth of uploads: PUTs for the files not done yet, in
// argument order, as many in flight as the protocol allows.
class UploadJob : public SessionHandler, private PutPipeline::Listener {
 public:
  UploadJob(std::vector<UploadItem>& items, const UploadOptions& options, TransferReport& report,
            SingleTarget* target)
      : items_(items), pipeline_(options.settings, report, *this, next_id_), target_(target) {
    for (const UploadItem& item : items_) {
      if (item.state == UploadState::kDone) ++settled_;
    }
  }

  void produce(Session& session) override {
    // The PUT depends on whether RESUME was agreed: wait for the hello.
    if (!session.hello_received()) return;
    if (target_ != nullptr && !target_->is_directory) {
      if (stat_id_ == 0) {
        stat_id_ = next_id_++;
        Bytes frame;
        encode_stat(frame, stat_id_, PathMsg{target_->name});
        session.send(std::move(frame), stat_id_);
      }
      return;
    }
    while (pipeline_.has_room() && next_to_send_ < items_.size()) {
      UploadItem& item = items_[next_to_send_++];
      if (item.state == UploadState::kWaiting) pipeline_.start(session, item);
    }
    pipeline_.pump(session);
  }

  void on_frame(Session& session, Frame& frame) override {
    if (stat_id_ != 0 && frame.header.request_id == stat_id_) return on_stat_reply(session, frame);
    pipeline_.on_frame(session, frame);
  }

  bool finished() const override { return settled_ == items_.size(); }

 private:
  void on_settled(Session&, UploadItem&) override { ++settled_; }

  void on_stat_reply(Session& session, const Frame& frame) {
    stat_id_ = 0;
    bool directory = false;
    if (frame.header.type == FrameType::kEntries) {
      auto message = decode_entries(frame);
      if (!message || message->more || message->entries.size() != 1) {
        return session.protocol_error("malformed STAT reply");
      }
      // A symbolic link may lead to a directory (scp would follow it):
      // it keeps the meaning ftsend always gave NAME, a directory, which
      // the server resolves beneath its root or refuses.
      const EntryType type = message->entries.front().type;
      directory = type == EntryType::kDirectory || type == EntryType::kSymlink;
    } else if (frame.header.type == FrameType::kError) {
      ErrorReply reply = read_error_reply(frame, target_->name, target_->name);
      if (reply.violation) return session.protocol_error(*reply.violation);
      // A STAT the identity may not make (FORBIDDEN, PERMISSION_DENIED)
      // leaves the question open: NAME stays a directory as before scp's
      // rule, the meaning ftsend always gave it. NOT_FOUND and the rest:
      // a file of that name, whose PUT reports any real problem.
      const ErrorCode code = reply.failure.code;
      directory = code == ErrorCode::FORBIDDEN || code == ErrorCode::PERMISSION_DENIED;
    } else {
      return session.protocol_error(
          "unexpected " + frame_type_name(std::uint8_t(frame.header.type)) + " for a STAT");
    }
    target_->is_directory = directory;
    if (!directory) {
      for (UploadItem& item : items_) item.remote = target_->name;
    }
  }

  std::vector<UploadItem>& items_;
  std::uint32_t next_id_ = 1;
  PutPipeline pipeline_;
  std::size_t next_to_send_ = 0;
  std::size_t settled_ = 0;  // done, or deferred to the next connection
  SingleTarget* target_;     // null unless options.target_may_be_file
  std::uint32_t stat_id_ = 0;
};

// Every attempt of the command: one UploadJob per connection over the same
// items, so that files that got OK (or failed for good) are not sent again.
class UploadWork : public RetryableWork {
 public:
  UploadWork(std::vector<UploadItem>& items, const UploadOptions& options, TransferReport& report)
      : items_(items), options_(options), report_(report) {
    if (options.target_may_be_file) target_ = SingleTarget{options.remote.path, std::nullopt};
  }

  void prepare_attempt() override {
    for (UploadItem& item : items_) {
      if (item.state == UploadState::kDone) continue;
      if (item.state == UploadState::kCancelling) {
        // Failed and reported already; only the server's answer was missing.
        item.state = UploadState::kDone;
        if (item.source) item.source->close();
        continue;
      }
      item.reset_for_retry();
    }
  }

  bool all_done() const override {
    return std::all_of(items_.begin(), items_.end(),
                       [](const UploadItem& item) { return item.state == UploadState::kDone; });
  }

  std::optional<Error> attempt() override {
    UploadJob job(items_, options_, report_, target_ ? &*target_ : nullptr);
    return connect_and_run(options_.remote.host, options_.remote.port, job);
  }

  std::vector<std::string> deferred() const override {
    std::vector<std::string> out;
    for (const UploadItem& item : items_) {
      if (item.state != UploadState::kRetryLater) continue;
      out.push_back(deferred_line(item.remote, *item.retry_reason));
    }
    return out;
  }

  void give_up(const std::optional<Error>& failure) override {
    if (failure) report_.connection_failed(*failure);
    for (UploadItem& item : items_) {
      if (item.state == UploadState::kDone) continue;
      if (item.state == UploadState::kRetryLater) {
        item.failure = item.retry_reason;
        report_.failed(item.local, *item.failure, item.remote);
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
  TransferReport& report_;
  std::optional<SingleTarget> target_;
};

// Opens every file before anything goes on the wire, so that local
// problems are reported at once and cost no round trip.
std::vector<UploadItem> prepare(const UploadOptions& options, TransferReport& report) {
  std::vector<UploadItem> items(options.files.size());
  for (std::size_t i = 0; i < options.files.size(); ++i) {
    UploadItem& item = items[i];
    item.local = options.files[i];
    item.remote = remote_path_for(options.remote.path, item.local);
    std::string why;
    // The server is the judge of a name (any bytes with ARCHIVE); only what
    // no server takes is refused here.
    if (auto violation = path_violation(item.remote, false, NameRules::kAnyBytes)) {
      item.failure = Error{ErrorCode::BAD_PATH, item.remote, "remote name refused: " + *violation};
    } else if (item.source = SourceFile::open(item.local, why); !item.source) {
      item.failure = Error{ErrorCode::LOCAL_FILE, {}, why};
    } else {
      report.progress().add_total(1, item.source->size());
      if (i >= kMaxOpenAtStart && !options.dry_run)
        item.source.reset();  // reopened when its PUT is sent
    }
    if (item.failure) {
      report.failed(item.local, *item.failure);
      item.state = UploadState::kDone;
    }
  }
  return items;
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

int run_upload(const UploadOptions& options, TransferReport& report) {
  std::vector<UploadItem> items = prepare(options, report);
  if (options.dry_run) {
    // Nothing goes on the wire: say what would be sent.
    for (UploadItem& item : items) {
      if (item.state != UploadState::kDone) report.transferred(item.local, item.source->size(), 0);
    }
    return report.finish();
  }
  UploadWork work(items, options, report);
  run_with_retries("ftsend", work, options.retries, report);
  std::vector<std::optional<Error>> failures;
  for (const UploadItem& item : items) failures.push_back(item.failure);
  return report.finish(exit_status_of(failures));
}

}  // namespace ft::client
