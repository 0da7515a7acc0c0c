#pragma once
// The job of one connection of ftget -r (tree_download.hpp): the walk's
// directories and the job itself, shared by tree_download.cpp (listing the
// remote directories, feeding their entries, ending each directory) and
// tree_download_entries.cpp (what each listed entry becomes locally:
// a file to fetch, a hard link, a symbolic link, a planned deletion).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client/transfer/download.hpp"
#include "client/transfer/get_pipeline.hpp"
#include "client/transfer/tree_archive.hpp"
#include "client/transfer/tree_walk.hpp"

namespace ft::client {

class DeletePlan;

namespace tree_download {

struct Root {
  std::string remote;
  std::string name;  // the local directory it lands in, below LOCAL_DIR ("" = LOCAL_DIR itself)
};

struct Visit;

// `fd` is none in a dry run when the directory does not exist locally.
struct Dir : TreeDirectory<Dir> {
  int parent_fd = -1;         // borrowed: where it was created
  std::string name;           // its name there
  bool created = false;       // this run made it (removed again if its LIST fails)
  std::optional<Entry> self;  // its own mode and mtime, when known
  std::string below;          // its path below LOCAL_DIR ("" for LOCAL_DIR itself)
  std::uint32_t list_id = 0;
  // The entries listed and not fed yet, from `next` on: with PACED, about
  // a window (the next is asked for by NEXT once few are left).
  std::vector<Entry> entries;
  std::size_t next = 0;
  bool paused = false;                    // the server waits for NEXT
  std::size_t since_next = 0;             // entries received since the last NEXT
  bool fed = false;                       // an entry was fed (files may be landing in it)
  bool lost_names = false;                // --delete planned names of it for deletion
  std::vector<Visit> subdirs;             // visited once every entry is fed
  std::unordered_set<std::string> names;  // the names fed lately (a name listed twice)
  std::vector<std::uint64_t> taken;       // --delete: hashes of the names fetched
};

// A root's name is below LOCAL_DIR, and may be "" (LOCAL_DIR itself).
struct Visit : TreeVisit<Dir> {
  std::optional<Entry> self;
};

// A second name of a file whose first name is still on its way.
struct LinkWaiter {
  Dir* dir;
  Entry entry;
  std::string local, remote;
};

// A PACED listing's next window is asked for when fewer entries than this
// are left to feed, so that it arrives before they run out.
constexpr std::size_t kNextWhenLeft = 4096;
// The names remembered to catch one listed twice: those fed since the
// count last reached this (two windows' worth).
constexpr std::size_t kNamesRemembered = 2 * kWalkWindow;

using DownloadWalk = TreeWalk<Dir, Visit, DownloadItem>;

class TreeDownloadJob : public DownloadWalk, private GetPipeline::Listener {
 public:
  TreeDownloadJob(const std::vector<Root>& roots, const DownloadOptions& options, int local_fd,
                  TransferReport& report, SettledPaths& settled,
                  std::vector<DeferredFile>& deferred, DeletePlan* deletes)
      : DownloadWalk(report, settled, deferred),
        options_(options),
        deletes_(deletes),
        local_fd_(local_fd),
        pipeline_(report, *this, next_id_) {
    pipeline_.set_delta(options.delta);
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) {
      visits_.push_back(
          Visit{{nullptr, it->name,
                 it->name.empty() ? options.local_dir : join_path(options.local_dir, it->name),
                 it->remote, ""},
                std::nullopt});
    }
  }

  ~TreeDownloadJob() override {
    // A batch being committed ends first: its files are in place and were
    // reported, and the next attempt must not count them again.
    for (DownloadItem* item : pipeline_.abandon_commits()) settled_.add(item->local_path);
    // Whatever ended the attempt, partial data is kept for the next one.
    for (auto& [key, item] : items_) {
      if (item->landing) item->landing->keep();
    }
  }

  void produce(Session& session) override {
    if (!trees_ready(session)) return;
    if (!plan_) {
      plan_ = plan_download(options_.archive, session);
      rules_ = session.name_rules();
    }
    walk(session);
    pipeline_.commit_due(session);
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (pipeline_.owns(id)) return pipeline_.on_frame(session, frame);
    if (stats_.contains(id)) return on_stat_reply(session, frame);
    auto found = lists_.find(id);
    if (found == lists_.end()) return session.protocol_error(unexpected_frame(frame));
    on_list_reply(session, *found->second, frame);
  }

  bool finished() const override {
    return walk_finished() && pipeline_.idle() && lists_.empty() && stats_.empty();
  }

  int wake_fd() const override { return pipeline_.wake_fd(); }

 private:
  bool room() const override {
    // Two slots: a root's visit sends a LIST and a STAT.
    return pipeline_.has_room(lists_.size() + stats_.size() + 1);
  }

  void start(Session& session, DownloadItem& item) override { pipeline_.start(session, item); }

  // Creates (unless a dry run) and opens the local directory, then LISTs
  // the remote one.
  void visit_directory(Session& session, Visit visit) override;

  bool take_entries(Session& session, Dir& dir, EntriesMsg& message) override;

  void list_failed(Dir& dir, const Error& error) override;

  void list_answered(std::uint32_t id) override { lists_.erase(id); }

  void on_stat_reply(Session& session, const Frame& frame);

  Feed feed(Session& session, Dir& dir) override;

  void feed_entry(Dir& dir, Entry& entry);

  // --delete: the local names of this directory that the server's tree
  // lacks (or that are excluded, with --delete-excluded) join the plan,
  // unless the filters protect them. ft's own hidden names (partial files
  // of other downloads, links being made) are never planned. The names
  // fetched are known by their 64-bit hashes (8 bytes each) and the local
  // directory is read a window at a time; a local name whose hash matches
  // a fetched one is kept, which errs on the side of keeping.
  void plan_deletions(Dir& dir);

  // True if the file was queued for download.
  bool file_entry(Dir& dir, const Entry& entry, const std::string& local,
                  const std::string& remote);

  // A file with several names (ARCHIVE): its first name in this transfer
  // is fetched, the others become links to it once it is there.
  void hard_link_entry(Dir& dir, const Entry& entry, const std::string& local,
                       const std::string& remote);

  void link_to(Dir& dir, const std::string& name, const std::string& local,
               const std::string& existing);

  void link_entry(Dir& dir, const Entry& entry, const std::string& local, const std::string& rel);

  void on_settled(Session& session, DownloadItem& item) override;

  void release(Session& session, Dir& dir) override;

  void on_directory_synced(Session& session, void* cookie,
                           const std::optional<std::string>& failure) override;

  // The end of a directory, synced (or not to be): reported, forgotten.
  void directory_synced(Session& session, Dir& dir);

  const DownloadOptions& options_;
  DeletePlan* deletes_;              // --delete: where the walk gathers what to delete
  std::optional<ArchivePlan> plan_;  // once the server's hello is in
  NameRules rules_ = NameRules::kPortable;
  OwnerNames names_;
  HardLinks<LinkWaiter> hard_links_;
  std::unordered_map<std::string, Entry> metas_;  // files on their way whose metadata is applied
  int local_fd_;
  GetPipeline pipeline_;
  std::unordered_map<std::uint32_t, Dir*> lists_;
  std::unordered_map<std::uint32_t, Dir*> stats_;
};

}  // namespace tree_download
}  // namespace ft::client
