#pragma once
// The skeleton ftsend -r (tree_upload.cpp) and ftget -r (tree_download.cpp)
// share: a streamed, depth-first walk over one connection. A visit opens a
// directory and LISTs it; its entries are fed to the walk a few at a time
// (files queued for the pipeline, links, subdirectories noted and visited
// once the directory's entries are all fed), and only while few files wait,
// so that a directory of a million entries costs a window of them, never
// the whole (local directories are read a window at a time, remote ones
// arrive in windows). A directory stays in memory until its requests and
// children are done (its `pending` count falls to zero), and the walk
// looks ahead only while few files wait and few LISTs are in flight, so
// memory stays flat. Across attempts a TreeWork remembers the files
// already settled and the ones the server deferred. What differs by
// direction (what a visit does, how entries are compared, how a directory
// ends) stays in the two files.
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/retry.hpp"
#include "client/transfer/settled_paths.hpp"
#include "common/os/fd.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

/// Files listed and waiting for their transfer; a directory is visited
/// ahead only while fewer than this wait.
inline constexpr std::size_t kReadyLowWater = 512;
/// Directories whose LIST may be in flight at once (the walk's look-ahead).
inline constexpr std::size_t kListsAhead = 8;
/// Entries of a local directory read at once (DirectoryStream), the same
/// as ftserve's listing window.
inline constexpr std::size_t kWalkWindow = 16384;
/// The window of local directory reads: kWalkWindow, or the test hook
/// FT_TEST_WALK_WINDOW (a smaller number, so that the tests of streamed
/// directories stay small; docs/client.md).
std::size_t walk_window();
/// The connection's failure when the server lacks the TREES capability.
inline constexpr const char* kNoTrees =
    "the server does not support directory trees (TREES capability); -r needs a newer ftserve";

/// What every directory of a walk holds between its visit and its end.
/// `Self` is the walk's own directory type, derived from this one.
template <class Self>
struct TreeDirectory {
  Self* parent = nullptr;
  std::string local;        // for messages and events
  std::string remote;       // its remote path
  std::string rel;          // below the copied tree's top (symlink checks)
  Fd fd;                    // the local directory (none if it could not be had)
  std::size_t pending = 0;  // requests and children not finished yet
  bool failed = false;      // reported as failed: it does not end as created
  bool listed = false;      // its LIST got its last frame or an ERROR
};

/// What feeding a directory's entries to the walk came to.
enum class Feed {
  kBlocked,  // enough waits (fed_enough()): more later
  kWaiting,  // its next entries are not listed yet
  kDone,     // every entry is fed
};

/// A subdirectory (or a root) still to be visited.
template <class Directory>
struct TreeVisit {
  Directory* parent = nullptr;  // nullptr for a root
  std::string name;             // in the parent's directory; for a root, what the walk says
  std::string local, remote, rel;
};

/// A file the server asked to try again later, with its reason.
struct DeferredFile {
  std::string local;
  Error reason;
};

/// True once the server's hello arrived and the walk may start; fails the
/// session (kNoTrees) if the server does not support trees.
bool trees_ready(Session& session);

/// The walk's bookkeeping, for one connection: the stack of visits, the
/// directories in memory, the files listed and waiting for their turn, and
/// what the run learned (settled and deferred files). A walk derives from
/// it and says what starting a file, visiting and releasing a directory
/// mean in its direction.
template <class Directory, class Visit, class Item>
class TreeWalk : public SessionHandler {
 protected:
  TreeWalk(TransferReport& report, SettledPaths& settled, std::vector<DeferredFile>& deferred)
      : report_(report), settled_(settled), deferred_(deferred) {}

  /// True if one more request fits the window.
  virtual bool room() const = 0;
  /// Hands a listed file to the pipeline.
  virtual void start(Session& session, Item& item) = 0;
  /// Opens and lists the directory of `visit`.
  virtual void visit_directory(Session& session, Visit visit) = 0;
  /// One of the directory's requests or children is finished.
  virtual void release(Session& session, Directory& dir) = 0;
  /// Keeps one ENTRIES frame of the directory's LIST; false if it broke the
  /// protocol (the session failed).
  virtual bool take_entries(Session& session, Directory& dir, EntriesMsg& message) = 0;
  /// The server answered the directory's LIST with `error`.
  virtual void list_failed(Directory& dir, const Error& error) = 0;
  /// The LIST with this request id got its last frame: forget the request.
  virtual void list_answered(std::uint32_t id) = 0;
  /// Feeds the directory's listed entries to the walk (transfers queued,
  /// subdirectories noted) until fed_enough(); at the end (kDone) its
  /// subdirectories are pushed (push_visits) and its deletions planned.
  virtual Feed feed(Session& session, Directory& dir) = 0;
  /// Sends requests the walk held back for want of room (none by default).
  virtual void send_held(Session&) {}
  /// True while held-back requests keep the walk from looking ahead.
  virtual bool holding() const { return false; }

  /// Starts the waiting files while the window has room, and visits the
  /// next directories while little waits and the window has room.
  void walk(Session& session) {
    for (;;) {
      send_held(session);
      while (!ready_.empty() && room()) {
        Item* item = ready_.front();
        ready_.pop_front();
        start(session, *item);
      }
      if (ready_.size() >= kReadyLowWater || !room() || holding()) break;
      if (feed_front(session)) continue;
      if (lists_in_flight_ >= kListsAhead || visits_.empty()) break;
      Visit visit = std::move(visits_.back());
      visits_.pop_back();
      visit_directory(session, std::move(visit));
    }
    // The totals grow until the last directory is listed ("N+ files").
    report_.progress().set_listing(!visits_.empty() || lists_in_flight_ > 0 || !feeding_.empty());
    report_.progress().tick();
  }

  /// True when the walk should stop feeding entries for now.
  bool fed_enough() const { return ready_.size() >= kReadyLowWater || holding(); }

  /// Feeds the oldest directory whose entries are not all fed; true if
  /// the walk should look again (it moved on or stopped for backpressure),
  /// false if that directory waits for its listing.
  bool feed_front(Session& session) {
    if (feeding_.empty()) return false;
    Directory* dir = feeding_.front();
    switch (feed(session, *dir)) {
      case Feed::kBlocked:
        return true;
      case Feed::kWaiting:
        return false;
      case Feed::kDone:
        feeding_.pop_front();
        release(session, *dir);  // the hold of add_directory()
        return true;
    }
    return false;
  }

  /// One frame of the reply to the LIST of `dir`: ENTRIES until the last,
  /// or an ERROR. After the last frame the directory is `listed` and the
  /// LIST's hold on it released; its entries are fed by walk().
  void on_list_reply(Session& session, Directory& dir, const Frame& frame) {
    if (frame.header.type == FrameType::kEntries) {
      auto message = decode_entries(frame);
      if (!message) return session.protocol_error("malformed ENTRIES");
      if (!take_entries(session, dir, *message)) return;
      if (message->more) return;
    } else if (frame.header.type == FrameType::kError) {
      ErrorReply reply = read_error_reply(frame, dir.remote, {});
      if (reply.violation) return session.protocol_error(*reply.violation);
      list_failed(dir, reply.failure);
    } else {
      return session.protocol_error(unexpected_frame(frame, "in reply to LIST"));
    }
    list_answered(frame.header.request_id);
    --lists_in_flight_;
    dir.listed = true;
    release(session, dir);
  }

  /// True when nothing is left to visit, to send or to finish.
  bool walk_finished() const {
    return visits_.empty() && ready_.empty() && dirs_.empty() && items_.empty();
  }

  /// A visit that could not open its directory: reported once per run,
  /// and the parent is released.
  void visit_failed(Session& session, const Visit& visit, const std::string& message) {
    if (settled_.add(visit.local)) {
      report_.failed(visit.local, Error{ErrorCode::LOCAL_FILE, {}, message});
    }
    if (visit.parent != nullptr) release(session, *visit.parent);
  }

  /// The directory of `visit`, kept in memory until directory_done(); it
  /// waits for its entries to be fed (a hold on it until they are).
  Directory& add_directory(Visit& visit, Fd fd) {
    auto owned = std::make_unique<Directory>();
    Directory& dir = *owned;
    dir.parent = visit.parent;
    dir.local = std::move(visit.local);
    dir.remote = std::move(visit.remote);
    dir.rel = std::move(visit.rel);
    dir.fd = std::move(fd);
    dirs_.emplace(&dir, std::move(owned));
    feeding_.push_back(&dir);
    ++dir.pending;
    return dir;
  }

  /// Forgets the directory and releases its parent.
  void directory_done(Session& session, Directory& dir) {
    Directory* parent = dir.parent;
    dirs_.erase(&dir);
    if (parent != nullptr) release(session, *parent);
  }

  /// Pushes the subdirectories of one directory (in name order) so that
  /// the first is visited next: depth first.
  void push_visits(std::vector<Visit>& subdirs) {
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) visits_.push_back(std::move(*it));
  }

  /// Queues a listed file for the pipeline; it counts as pending in its
  /// directory (if any) until settle().
  void queue_item(std::unique_ptr<Item> item, Directory* owner) {
    item->owner = owner;
    if (owner != nullptr) ++owner->pending;
    ready_.push_back(item.get());
    items_.emplace(item.get(), std::move(item));
  }

  /// The pipeline is done with `item` (named `local`): remembered as
  /// settled, or as deferred when `retry_later`; then forgotten, and its
  /// directory released.
  void settle(Session& session, Item& item, const std::string& local, bool retry_later) {
    if (retry_later) {
      deferred_.push_back(DeferredFile{local, *item.retry_reason});
    } else {
      settled_.add(local);
    }
    Directory* dir = static_cast<Directory*>(item.owner);
    std::erase(ready_, &item);
    items_.erase(&item);
    if (dir != nullptr) release(session, *dir);
  }

  TransferReport& report_;
  SettledPaths& settled_;
  std::vector<DeferredFile>& deferred_;
  std::uint32_t next_id_ = 1;
  std::vector<Visit> visits_;  // a stack: the next visit is at the back
  std::deque<Item*> ready_;
  std::unordered_map<const Item*, std::unique_ptr<Item>> items_;
  std::unordered_map<const Directory*, std::unique_ptr<Directory>> dirs_;
  std::size_t lists_in_flight_ = 0;
  std::deque<Directory*> feeding_;  // in visit order: entries still to feed
};

/// Every attempt of a tree command: one walk per connection, with the
/// settled paths kept across attempts so that a retry neither transfers
/// nor reports a file twice.
class TreeWork final : public RetryableWork {
 public:
  /// Runs one connection's walk with the run's settled paths, appending the
  /// files the server deferred; returns the connection-level failure. The
  /// walk is gone when it returns.
  using Attempt = std::function<std::optional<Error>(SettledPaths& settled,
                                                     std::vector<DeferredFile>& deferred)>;

  TreeWork(TransferReport& report, Attempt attempt)
      : report_(report), attempt_(std::move(attempt)) {}

  void prepare_attempt() override {
    deferred_.clear();
    settled_.new_attempt();
    // The new walk counts again every path no attempt settled.
    report_.progress().restart_totals();
  }
  bool all_done() const override { return done_; }
  std::optional<Error> attempt() override;
  std::vector<std::string> deferred() const override;
  void give_up(const std::optional<Error>& failure) override;

 private:
  TransferReport& report_;
  Attempt attempt_;
  SettledPaths settled_;
  std::vector<DeferredFile> deferred_;
  bool done_ = false;
};

}  // namespace ft::client
