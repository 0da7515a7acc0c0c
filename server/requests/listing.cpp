#include "server/requests/listing.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "server/requests/stat_batch.hpp"
#include "server/storage/directory_reader.hpp"
#include "server/storage/root_fs.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// The entries of a window: kListingWindow, or the test hook
// FT_TEST_LISTING_WINDOW (a smaller number, so that tests of directories
// larger than a window stay small; docs/server.md).
std::size_t listing_window() {
  static const std::size_t window = [] {
    const char* text = std::getenv("FT_TEST_LISTING_WINDOW");
    const long value = text == nullptr ? 0 : std::strtol(text, nullptr, 10);
    return value > 0 ? std::min(kListingWindow, static_cast<std::size_t>(value)) : kListingWindow;
  }();
  return window;
}

// What a listing's entries cost in memory, near enough for the budget.
std::size_t memory_of(const std::vector<Entry>& entries) {
  std::size_t bytes = entries.capacity() * sizeof(Entry);
  for (const Entry& e : entries) {
    if (e.name.capacity() > 15) bytes += e.name.capacity() + 1;
    if (e.target.capacity() > 15) bytes += e.target.capacity() + 1;
    for (const Xattr& x : e.meta.xattrs) bytes += sizeof x + x.name.capacity() + x.value.capacity();
  }
  return bytes;
}

}  // namespace

std::shared_ptr<Listing> Listing::start(RequestContext& context, std::uint32_t id, std::string path,
                                        bool list, std::uint8_t fields) {
  auto listing = std::make_shared<Listing>(context, id, std::move(path), list, fields);
  listing->wait_for_window();
  return listing;
}

Listing::Listing(RequestContext& context, std::uint32_t id, std::string path, bool list,
                 std::uint8_t fields)
    : context_(context),
      id_(id),
      path_(std::move(path)),
      list_(list),
      fields_(fields & (kFlagHashes | kFlagTargets | kFlagMeta)),
      paced_((fields & kFlagPaced) != 0) {}

bool Listing::resume() {
  if (!paused_ || finished_) return false;
  paused_ = false;
  wait_for_window();
  return true;
}

void Listing::wait_for_window() {
  if (!list_ && context_->stat_batcher() != nullptr) {
    // A STAT runs with the others of its connection, in a batch that
    // waits in the line of listings as one (stat_batch.hpp).
    return run();
  }
  in_line_ = true;
  // Every window waits in the connection's (and, with HASHES, the
  // server's) line of listings, so a huge directory takes turns with the
  // others rather than holding a place until its end.
  context_->start_listing([self = shared_from_this()] { self->run(); }, hashes());
}

void Listing::run() {
  // A batched STAT holds no place of its own: its batch does.
  const bool batched = !list_ && context_->stat_batcher() != nullptr;
  in_line_ = false;
  running_ = !batched;
  if (finished_) {  // aborted while it waited
    if (!batched) context_->listing_job_done(hashes());
    return release();
  }
  struct Outcome {
    bool forbidden = false;
    std::optional<std::string> bad_path;
    int err = 0;
    std::vector<Entry> entries;
    bool more = false;
  };
  auto outcome = std::make_shared<Outcome>();
  const bool first = reader_ == nullptr;
  if (first) {
    outcome->forbidden = !context_->access().allows(kRightList);
    outcome->bad_path = path_violation(path_, true, context_->name_rules());
    reader_ = std::make_shared<DirectoryReader>();
  }
  // The next window reuses this one's storage: a huge directory's windows,
  // read by whichever pool threads, then cost one allocation, not one per
  // thread's malloc arena (which would keep it).
  outcome->entries = std::move(entries_);
  entries_.clear();
  const int root = context_->root_fd();
  const std::string path = path_;
  const bool list = list_;
  const std::uint8_t fields = fields_;
  const std::size_t window = listing_window();
  // The cache is the server's, which outlives every job it queued.
  HashCache* cache = hashes() ? &context_->services().hash_cache() : nullptr;
  job_running_ = true;
  auto work = [outcome, reader = reader_, first, root, path, list, fields, cache, window] {
    if (outcome->forbidden || outcome->bad_path) return;
    if (list) {
      if (first) outcome->err = reader->open(root, path);
      if (outcome->err == 0) {
        outcome->err = reader->read(outcome->entries, cache, (fields & kFlagTargets) != 0,
                                    (fields & kFlagMeta) != 0, window);
      }
      outcome->more = outcome->err == 0 && !reader->at_end();
    } else {
      Entry entry;
      outcome->err = stat_path(root, path, entry, (fields & kFlagMeta) != 0);
      if (outcome->err == 0) outcome->entries.push_back(std::move(entry));
    }
  };
  auto done = [self = shared_from_this(), outcome, batched] {
    self->job_running_ = false;
    if (!batched) self->context_->listing_job_done(self->hashes());
    if (self->finished_) return self->release();
    if (outcome->bad_path) {
      self->context_->send_error(self->id_, ErrorCode::BAD_PATH, self->path_,
                                 "path refused: " + *outcome->bad_path);
      self->log_end(to_string(ErrorCode::BAD_PATH));
    } else if (outcome->forbidden) {
      self->context_->send_error(self->id_, ErrorCode::FORBIDDEN, self->path_,
                                 "this identity may not list");
      self->log_end(to_string(ErrorCode::FORBIDDEN));
    } else if (outcome->err != 0) {
      // A later window's failure ends a reply whose first pages went out
      // already: the client drops what it collected (section 5.3).
      const ErrorCode code = error_from_errno(outcome->err);
      self->context_->send_error(self->id_, code, self->path_, std::strerror(outcome->err));
      self->log_end(to_string(code));
    } else {
      self->take_window(std::move(outcome->entries), outcome->more);
      return self->send_pages();
    }
    self->finished_ = true;
    self->release();
    self->context_->finish_request(self->id_, false);
  };
  if (batched) return context_->stat_batcher()->add(std::move(work), std::move(done));
  queue_job(context_->loop(), std::move(work), std::move(done));
}

void Listing::take_window(std::vector<Entry> entries, bool more) {
  if (memory_held_ > 0) context_->remove_reply_memory(memory_held_);
  entries_ = std::move(entries);
  next_ = 0;
  more_windows_ = more;
  memory_held_ = memory_of(entries_);
  context_->add_reply_memory(memory_held_);
}

void Listing::send_pages() {
  // A wake-up while the next window waits its turn or is being read.
  if (finished_ || job_running_ || in_line_) return;
  // One ENTRIES frame (at most the control payload limit) per page, each
  // when the connection may buffer it: a client that stops reading holds
  // this listing's current window, never its whole encoded reply.
  while (context_->may_buffer(limits::kMaxControlPayload + limits::kFrameHeaderSize)) {
    if (next_ >= entries_.size() && more_windows_) {
      // This window is sent: give back the place and read the next (into
      // the same storage, still counted).
      entries_.clear();
      running_ = false;
      context_->listing_finished();
      return wait_for_window();
    }
    Bytes page;
    next_ = encode_entries_frame(page, id_, entries_, next_, fields_, more_windows_, paced_);
    const bool paused = paced_ && more_windows_ && next_ >= entries_.size();
    const bool last = next_ >= entries_.size() && !more_windows_;
    bytes_sent_ += page.size();
    context_->send_frame(std::move(page));
    if (paused) {
      // PACED: the page just sent says the window ends, so the listing is
      // paused from now on (the client's NEXT may come at once) until NEXT
      // (resume()). It holds only its open directory meanwhile: storage
      // kept (and counted) by paused listings was what the next window of
      // the one the client waits on waited for, for ever (a tree's
      // listings ahead, or one window over kSendHighWater on its own).
      entries_ = {};
      context_->remove_reply_memory(memory_held_);
      memory_held_ = 0;
      running_ = false;
      context_->listing_finished();
      paused_ = true;
      return;
    }
    if (last) {
      finished_ = true;
      log_end("ok");
      release();
      context_->finish_request(id_, false);
      return;
    }
  }
  context_->notify_when_writable(weak_from_this());
}

void Listing::log_end(const std::string& result) {
  context_->log_access(list_ ? "list" : "stat", path_, bytes_sent_, started_, result);
}

void Listing::release() {
  if (memory_held_ > 0) context_->remove_reply_memory(memory_held_);
  memory_held_ = 0;
  entries_ = {};
  if (running_ && !job_running_) {
    running_ = false;
    context_->listing_finished();
  }
}

void Listing::abort(ErrorCode code, bool notify) {
  if (finished_) return;
  finished_ = true;
  auto keep = shared_from_this();  // finish_request drops the session's reference
  if (notify) context_->send_error(id_, code, path_, std::string(default_message(code)));
  log_end(to_string(code));
  release();  // while its job runs, its completion releases its place
  context_->finish_request(id_, false);
}

}  // namespace ft::server
