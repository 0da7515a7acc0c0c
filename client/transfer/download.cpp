#include "client/transfer/download.hpp"

#include <algorithm>

#include "client/local/local_dir.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/get_pipeline.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// One connection's worth of downloads: GETs for the files not done yet.
class DownloadJob : public SessionHandler, private GetPipeline::Listener {
 public:
  DownloadJob(std::vector<DownloadItem>& items, TransferReport& report, DeltaMode delta)
      : items_(items), pipeline_(report, *this, next_id_) {
    pipeline_.suggest_recursive();
    pipeline_.set_delta(delta);
    for (const DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) ++settled_;
    }
  }

  void produce(Session& session) override {
    // Whether a GET may set DELTA is known from the server's hello: one
    // round trip per connection, unless deltas are off.
    if (pipeline_.delta_mode() != DeltaMode::kNever && !session.hello_received()) return;
    while (pipeline_.has_room() && next_to_send_ < items_.size()) {
      DownloadItem& item = items_[next_to_send_++];
      if (item.state == DownloadState::kWaiting) pipeline_.start(session, item);
    }
    pipeline_.commit_due(session);
    pipeline_.tick_progress();
  }

  ~DownloadJob() override {
    // A batch being committed ends with the attempt: its files are in place.
    settled_ += pipeline_.abandon_commits().size();
  }

  void on_frame(Session& session, Frame& frame) override { pipeline_.on_frame(session, frame); }

  bool finished() const override { return settled_ == items_.size() && pipeline_.idle(); }

  int wake_fd() const override { return pipeline_.wake_fd(); }

 private:
  void on_settled(Session&, DownloadItem&) override { ++settled_; }

  std::vector<DownloadItem>& items_;
  std::uint32_t next_id_ = 1;
  GetPipeline pipeline_;
  std::size_t next_to_send_ = 0;
  std::size_t settled_ = 0;  // done, or deferred to the next connection
};

// Every attempt of the command: one DownloadJob per connection over the
// same items. Whatever ends an attempt, the partial data of the files not
// finished is kept (synced) for the next attempt or the next run.
class DownloadWork : public RetryableWork {
 public:
  DownloadWork(std::vector<DownloadItem>& items, const DownloadOptions& options,
               TransferReport& report)
      : items_(items), options_(options), report_(report) {}

  void prepare_attempt() override {
    for (DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) continue;
      if (item.state == DownloadState::kCancelling) {
        item.state = DownloadState::kDone;  // failed and reported already
        continue;
      }
      // The next attempt counts again what it keeps (a resumed prefix).
      item.take_back_progress(report_.progress());
      item.reset_for_retry();
    }
  }

  bool all_done() const override {
    return std::all_of(items_.begin(), items_.end(),
                       [](const DownloadItem& item) { return item.state == DownloadState::kDone; });
  }

  std::optional<Error> attempt() override {
    std::optional<Error> failure;
    {
      // The job ends first: its last chunks are written before the
      // partial files are kept.
      DownloadJob job(items_, report_, options_.delta);
      failure = connect_and_run(options_.host, options_.port, job);
    }
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
      out.push_back(deferred_line(item.remote, *item.retry_reason));
    }
    return out;
  }

  void give_up(const std::optional<Error>& failure) override {
    if (failure) report_.connection_failed(*failure);
    for (DownloadItem& item : items_) {
      if (item.state == DownloadState::kDone) continue;
      if (item.state == DownloadState::kRetryLater) {
        item.failure = item.retry_reason;
        report_.failed(item.local_path, *item.failure, item.remote);
      } else if (!item.failure) {
        item.failure = failure;
      }
      item.state = DownloadState::kDone;
    }
  }

 private:
  std::vector<DownloadItem>& items_;
  const DownloadOptions& options_;
  TransferReport& report_;
};

}  // namespace

std::string local_name_for(const std::string& remote_path) {
  auto slash = remote_path.rfind('/');
  return slash == std::string::npos ? remote_path : remote_path.substr(slash + 1);
}

int run_download(const DownloadOptions& options, TransferReport& report) {
  std::vector<DownloadItem> items(options.paths.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].remote = options.paths[i];
    items[i].local_name = local_name_for(options.paths[i]);
    items[i].local_path = options.local_dir == "." ? items[i].local_name
                                                   : options.local_dir + "/" + items[i].local_name;
  }
  if (options.dry_run) {
    // A plain GET list changes nothing only if nothing is asked for.
    for (const DownloadItem& item : items) report.transferred(item.local_path, 0, 0);
    return report.finish();
  }
  // The files are known now; their sizes come with each GET_READY.
  report.progress().add_total(items.size(), 0);
  std::string why;
  auto dir = LocalDirectory::open_or_create(options.local_dir, why);
  if (!dir) {
    report.failed(options.local_dir, Error{ErrorCode::LOCAL_FILE, {}, why});
    return report.finish(static_cast<int>(Exit::kLocalFile));
  }
  for (DownloadItem& item : items) item.dir_fd = dir->fd();
  DownloadWork work(items, options, report);
  run_with_retries("ftget", work, options.retries, report);
  std::vector<std::optional<Error>> failures;
  for (const DownloadItem& item : items) failures.push_back(item.failure);
  return report.finish(exit_status_of(failures));
}

}  // namespace ft::client
