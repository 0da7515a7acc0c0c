#include "client/transfer/tree_download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "client/local/local_dir.hpp"
#include "client/local/local_tree.hpp"
#include "client/net/interrupt.hpp"
#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/get_pipeline.hpp"
#include "client/transfer/local_delete.hpp"
#include "client/transfer/tree_archive.hpp"
#include "client/transfer/tree_walk.hpp"
#include "common/os/mtime.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Temporary name of a symlink being created, renamed over the final name.
constexpr std::string_view kLinkTempPrefix = ".ft-link.";

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
  std::vector<Visit> subdirs;             // visited once every entry is fed
  std::unordered_set<std::string> names;  // the names fed lately (a name listed twice)
  std::vector<std::uint64_t> taken;       // --delete: hashes of the names fetched
};

// A root's name is below LOCAL_DIR, and may be "" (LOCAL_DIR itself).
struct Visit : TreeVisit<Dir> {
  std::optional<Entry> self;
};

// A PACED listing's next window is asked for when fewer entries than this
// are left to feed, so that it arrives before they run out.
constexpr std::size_t kNextWhenLeft = 4096;
// The names remembered to catch one listed twice: those fed since the
// count last reached this (two windows' worth).
constexpr std::size_t kNamesRemembered = 2 * kWalkWindow;

std::uint64_t name_key(std::string_view name) {
  return hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

// Creates or replaces the symlink `name` in `dir_fd` atomically: made under
// a temporary name, then renamed (rename never follows a link at `name`).
bool make_symlink(int dir_fd, const std::string& name, const std::string& target,
                  std::int64_t mtime_ns, std::string& why) {
  const std::string temp =
      std::string(kLinkTempPrefix) + std::to_string(::getpid()) + "." +
      std::to_string(
          hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(name.data()), name.size())) &
          0xffffffff);
  ::unlinkat(dir_fd, temp.c_str(), 0);
  if (::symlinkat(target.c_str(), dir_fd, temp.c_str()) != 0) {
    why = std::string("cannot create the link: ") + std::strerror(errno);
    return false;
  }
  const timespec times[2] = {{0, UTIME_OMIT}, timespec_of_ns(mtime_ns)};
  ::utimensat(dir_fd, temp.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    why = std::string("cannot rename the link into place: ") + std::strerror(errno);
    ::unlinkat(dir_fd, temp.c_str(), 0);
    return false;
  }
  return true;
}

// A second name of a file whose first name is still on its way.
struct LinkWaiter {
  Dir* dir;
  Entry entry;
  std::string local, remote;
};

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

 private:
  bool room() const override {
    // Two slots: a root's visit sends a LIST and a STAT.
    return pipeline_.in_flight() + lists_.size() + stats_.size() + 2 <=
           limits::kMaxRequestsInFlight;
  }

  void start(Session& session, DownloadItem& item) override { pipeline_.start(session, item); }

  // Creates (unless a dry run) and opens the local directory, then LISTs
  // the remote one.
  void visit_directory(Session& session, Visit visit) override {
    const int parent_fd = visit.parent == nullptr ? local_fd_ : visit.parent->fd.get();
    Fd fd;
    bool created = false;
    std::string why;
    if (visit.name.empty()) {
      fd.reset(::fcntl(parent_fd, F_DUPFD_CLOEXEC, 0));
    } else if (parent_fd >= 0) {
      // 0700 while the content lands; the real mode is applied at the end.
      const bool made = !options_.dry_run && ::mkdirat(parent_fd, visit.name.c_str(), 0700) == 0;
      if (!made && !options_.dry_run && errno != EEXIST) {
        why = std::strerror(errno);
      } else {
        created = made;
        fd = open_directory(parent_fd, visit.name, false, why);
        if (!fd && options_.dry_run && errno == ENOENT) why.clear();
        struct stat st {};
        if (!fd && ::fstatat(parent_fd, visit.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          // O_NOFOLLOW | O_DIRECTORY fails with ENOTDIR on a link: say what it is.
          why = "it is a symbolic link, which is never followed";
        }
      }
    }
    if (!why.empty())
      return visit_failed(session, visit, "cannot create or open directory: " + why);
    Dir& dir = add_directory(visit, std::move(fd));
    dir.parent_fd = parent_fd;
    dir.name = visit.name;
    dir.created = created;
    dir.self = std::move(visit.self);
    dir.below = dir.parent == nullptr ? dir.name : join_path(dir.parent->below, dir.name);
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_list(frame, id, PathMsg{dir.remote},
                static_cast<std::uint8_t>((options_.archive.links ? kFlagTargets : 0) |
                                          (plan_->meta ? kFlagMeta : 0) |
                                          (session.paced_agreed() ? kFlagPaced : 0)));
    session.send(std::move(frame), id);
    dir.list_id = id;
    lists_.emplace(id, &dir);
    ++lists_in_flight_;
    ++dir.pending;
    if (dir.parent == nullptr && !visit.name.empty() && !dir.remote.empty()) {
      // A root copied as a directory of its own: its mode and mtime come
      // from a STAT (its parent is not listed).
      const std::uint32_t stat_id = next_id_++;
      Bytes stat;
      encode_stat(stat, stat_id, PathMsg{dir.remote}, plan_->meta ? kFlagMeta : 0);
      session.send(std::move(stat), stat_id);
      stats_.emplace(stat_id, &dir);
      ++dir.pending;
    }
  }

  bool take_entries(Session& session, Dir& dir, EntriesMsg& message) override {
    // A PACED listing sends about a window per NEXT; an older server sends
    // the whole listing at once. Either way what comes between two NEXTs
    // (all of it without PACED) is bounded: entries are fed as they come,
    // so a server listing without end would otherwise never be stopped.
    if (auto why = listing_overflow(dir.since_next, message.entries.size())) {
      session.protocol_error(*why + " (" + printable(dir.remote) + ")");
      return false;
    }
    dir.since_next += message.entries.size();
    if (dir.next > 0 && dir.next * 2 >= dir.entries.size()) {
      // The fed part goes before the vector grows.
      dir.entries.erase(dir.entries.begin(),
                        dir.entries.begin() + static_cast<std::ptrdiff_t>(dir.next));
      dir.next = 0;
    }
    for (Entry& entry : message.entries) dir.entries.push_back(std::move(entry));
    if (message.paused) dir.paused = true;
    return true;
  }

  void list_failed(Dir& dir, const Error& error) override {
    report_.failed(dir.local, error, dir.remote.empty() ? "/" : dir.remote);
    dir.failed = true;
    dir.entries.clear();
    dir.next = 0;
    if (dir.created && !dir.fed) {
      // Do not leave an empty directory for a remote one that failed. (One
      // whose first windows were fed has files landing in it: it stays.)
      dir.fd.reset();
      ::unlinkat(dir.parent_fd, dir.name.c_str(), AT_REMOVEDIR);
    }
  }

  void list_answered(std::uint32_t id) override { lists_.erase(id); }

  void on_stat_reply(Session& session, const Frame& frame) {
    auto found = stats_.find(frame.header.request_id);
    Dir& dir = *found->second;
    if (frame.header.type == FrameType::kEntries) {
      auto message = decode_entries(frame);
      if (!message || message->more || message->entries.size() != 1) {
        return session.protocol_error("STAT must answer exactly one entry");
      }
      if (auto why = stat_reply_violation(message->entries[0], dir.remote)) {
        return session.protocol_error(*why);
      }
      if (message->entries[0].type == EntryType::kDirectory) dir.self = message->entries[0];
    } else if (frame.header.type == FrameType::kError) {
      ErrorReply reply = read_error_reply(frame, dir.remote, {});
      if (reply.violation) return session.protocol_error(*reply.violation);
    } else {
      return session.protocol_error(unexpected_frame(frame, "in reply to STAT"));
    }
    // An ERROR here is reported by the LIST of the same path.
    stats_.erase(found);
    release(session, dir);
  }

  Feed feed(Session& session, Dir& dir) override {
    while (!dir.failed) {
      if (dir.paused && dir.entries.size() - dir.next < kNextWhenLeft) {
        Bytes frame;
        encode_next(frame, dir.list_id);
        session.send(std::move(frame), dir.list_id);
        dir.paused = false;
        dir.since_next = 0;
      }
      if (dir.next == dir.entries.size()) {
        dir.entries.clear();
        dir.next = 0;
        if (!dir.listed) return Feed::kWaiting;
        break;
      }
      if (fed_enough()) return Feed::kBlocked;
      Entry entry = std::move(dir.entries[dir.next++]);
      feed_entry(dir, entry);
    }
    if (deletes_ != nullptr && !dir.failed && dir.fd) plan_deletions(dir);
    dir.entries = {};
    dir.names = {};
    dir.taken = {};
    // Visited even after a failed listing: each holds its parent.
    push_visits(dir.subdirs);
    dir.subdirs = {};
    return Feed::kDone;
  }

  void feed_entry(Dir& dir, Entry& entry) {
    dir.fed = true;
    if (auto why = component_violation(entry.name, rules_)) {
      // Never used, whatever it is: the server broke the protocol.
      return report_.failed(
          join_path(dir.local, entry.name),
          Error{ErrorCode::PROTOCOL, {}, "the server sent an invalid name: " + *why});
    }
    if (dir.names.size() >= kNamesRemembered) dir.names.clear();
    if (!dir.names.insert(entry.name).second) {
      // Only the first of a name is used: a second would land on it.
      return report_.failed(join_path(dir.local, entry.name),
                            Error{ErrorCode::PROTOCOL, {}, "the server listed this name twice"});
    }
    if (auto why = absurd_size(entry.size); why && entry.type == EntryType::kFile) {
      return report_.failed(join_path(dir.local, entry.name), Error{ErrorCode::PROTOCOL, {}, *why});
    }
    const std::string rel = join_path(dir.rel, entry.name);
    // The same rules as ftsend -r; an excluded directory is not listed.
    if (options_.filters.excluded(rel, entry.type == EntryType::kDirectory)) return;
    if (deletes_ != nullptr) dir.taken.push_back(name_key(entry.name));
    const std::string local = join_path(dir.local, entry.name);
    if (settled_.contains(local)) return;
    const std::string remote = join_path(dir.remote, entry.name);
    if (auto why = path_violation(remote, false, rules_)) {
      // Too deep or too long: an endless tree stops here.
      return report_.failed(local, Error{ErrorCode::BAD_PATH, {}, "cannot be fetched: " + *why});
    }
    switch (entry.type) {
      case EntryType::kDirectory:
        dir.subdirs.push_back(Visit{{&dir, entry.name, local, remote, rel}, entry});
        ++dir.pending;
        break;
      case EntryType::kFile:
        if (plan_->hard_links && entry.meta.link_key != 0) {
          hard_link_entry(dir, entry, local, remote);
        } else {
          file_entry(dir, entry, local, remote);
        }
        break;
      case EntryType::kSymlink:
        link_entry(dir, entry, local, rel);
        break;
      case EntryType::kOther:
        report_.skipped(local, 0, "special file", true);
        break;
    }
  }

  // --delete: the local names of this directory that the server's tree
  // lacks (or that are excluded, with --delete-excluded) join the plan,
  // unless the filters protect them. ft's own hidden names (partial files
  // of other downloads, links being made) are never planned. The names
  // fetched are known by their 64-bit hashes (8 bytes each) and the local
  // directory is read a window at a time; a local name whose hash matches
  // a fetched one is kept, which errs on the side of keeping.
  void plan_deletions(Dir& dir) {
    std::sort(dir.taken.begin(), dir.taken.end());
    DirectoryStream stream;
    std::vector<LocalEntry> locals;
    std::string why;
    bool read = stream.open(dir.fd.get(), why);
    while (read && !stream.at_end()) {
      if (!stream.read(locals, walk_window(), why)) {
        read = false;
        break;
      }
      for (const LocalEntry& local : locals) {
        if (local.name.starts_with(kReservedPrefix) ||
            std::binary_search(dir.taken.begin(), dir.taken.end(), name_key(local.name))) {
          continue;
        }
        const bool directory = S_ISDIR(local.st.st_mode);
        const std::string rel = join_path(dir.rel, local.name);
        if (deletes_->protected_name(rel, directory)) continue;
        deletes_->add(Deletion{join_path(dir.below, local.name), rel,
                               join_path(dir.local, local.name), directory});
        if (dir.self) {
          deletes_->remember_times(dir.below,
                                   DeletePlan::DirTimes{dir.self->mode, dir.self->mtime_ns});
        }
      }
    }
    if (!read) {
      report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, "cannot read directory: " + why});
    }
  }

  // True if the file was queued for download.
  bool file_entry(Dir& dir, const Entry& entry, const std::string& local,
                  const std::string& remote) {
    report_.progress().add_total(1, entry.size);
    struct stat st {};
    // A directory this run created holds nothing to compare with.
    if (dir.fd && !dir.created &&
        ::fstatat(dir.fd.get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) == entry.size &&
        mtime_ns_of(st) == entry.mtime_ns) {
      report_.skipped(local, entry.size, "unchanged", false);
      std::string why;
      if (!options_.dry_run &&
          !apply_entry_meta(*plan_, dir.fd.get(), entry.name, entry, names_, why)) {
        report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
      }
      return false;
    }
    if (options_.dry_run) {
      report_.transferred(local, entry.size, 0);
      return false;
    }
    if (plan_->attrs()) metas_.emplace(local, entry);
    auto item = std::make_unique<DownloadItem>();
    item->remote = remote;
    item->local_name = entry.name;
    item->local_path = local;
    item->dir_fd = dir.fd.get();
    item->size_counted = true;  // add_total() above
    // A directory this run created holds no older copy, and by default a
    // delta pays only from kDeltaMinSize: no open of a local file per file.
    item->fresh_dir = dir.created;
    item->no_basis =
        dir.created || (options_.delta == DeltaMode::kAuto && entry.size < kDeltaMinSize);
    queue_item(std::move(item), &dir);
    return true;
  }

  // A file with several names (ARCHIVE): its first name in this transfer
  // is fetched, the others become links to it once it is there.
  void hard_link_entry(Dir& dir, const Entry& entry, const std::string& local,
                       const std::string& remote) {
    using Links = HardLinks<LinkWaiter>;
    const Links::Key key{entry.meta.link_key, 0};
    Links::Group& group = hard_links_.find(key);
    switch (group.state) {
      case Links::State::kNew:
        group.first = local;
        group.state = Links::State::kPending;
        if (file_entry(dir, entry, local, remote)) return hard_links_.pending(local, key);
        group.state = Links::State::kDone;  // unchanged here, or a dry run
        return;
      case Links::State::kPending:
        ++dir.pending;  // until the first name settles
        group.waiting.push_back(LinkWaiter{&dir, entry, local, remote});
        return;
      case Links::State::kDone:
        return link_to(dir, entry.name, local, group.first);
      case Links::State::kFailed:
        file_entry(dir, entry, local, remote);
        return;
    }
  }

  void link_to(Dir& dir, const std::string& name, const std::string& local,
               const std::string& existing) {
    settled_.add(local);
    if (options_.dry_run) return report_.created("hardlink", local);
    std::string why;
    if (!dir.fd || !make_local_hardlink(existing, dir.fd.get(), name, why)) {
      return report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    report_.created("hardlink", local);
  }

  void link_entry(Dir& dir, const Entry& entry, const std::string& local, const std::string& rel) {
    if (!options_.archive.links) return report_.skipped(local, 0, "symlink", true);
    settled_.add(local);
    // With ARCHIVE a link is recreated as it was, whatever its target: this
    // client never follows a link it made (directories are opened with
    // O_NOFOLLOW, files are renamed over names), so none can lead a write
    // out of LOCAL_DIR.
    if (auto why = plan_->verbatim_links ? archive_target_violation(entry.target)
                                         : link_target_violation(rel, entry.target)) {
      return report_.refused(local, entry.target, *why);
    }
    if (dir.fd) {
      std::string now(entry.target.size() + 1, '\0');
      ssize_t n = ::readlinkat(dir.fd.get(), entry.name.c_str(), now.data(), now.size());
      if (n >= 0 && static_cast<std::size_t>(n) == entry.target.size() &&
          now.compare(0, entry.target.size(), entry.target) == 0) {
        return report_.skipped(local, 0, "unchanged", false);
      }
    }
    if (options_.dry_run) return report_.created("symlink", local);
    std::string why;
    if (!make_symlink(dir.fd.get(), entry.name, entry.target, entry.mtime_ns, why) ||
        !apply_entry_meta(*plan_, dir.fd.get(), entry.name, entry, names_, why)) {
      return report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    report_.created("symlink", local);
  }

  void on_settled(Session& session, DownloadItem& item) override {
    const bool ok = item.state == DownloadState::kDone && !item.failure;
    if (auto meta = metas_.find(item.local_path); meta != metas_.end()) {
      std::string why;
      if (ok &&
          !apply_entry_meta(*plan_, item.dir_fd, item.local_name, meta->second, names_, why)) {
        report_.failed(item.local_path, Error{ErrorCode::LOCAL_FILE, {}, why});
      }
      metas_.erase(meta);
    }
    if (auto waiters = hard_links_.settled(item.local_path, ok)) {
      for (LinkWaiter& waiter : *waiters) {
        if (ok) {
          link_to(*waiter.dir, waiter.entry.name, waiter.local, item.local_path);
        } else {
          file_entry(*waiter.dir, waiter.entry, waiter.local, waiter.remote);
        }
        release(session, *waiter.dir);
      }
    }
    settle(session, item, item.local_path, item.state == DownloadState::kRetryLater);
  }

  void release(Session& session, Dir& dir) override {
    if (--dir.pending > 0) return;
    // Everything below is done: the directory's own mode and mtime now,
    // since adding entries changed its mtime.
    if (!options_.dry_run && dir.fd && dir.self) {
      const timespec times[2] = {{0, UTIME_OMIT}, timespec_of_ns(dir.self->mtime_ns)};
      std::string why;
      // Owners, set-id bits and attributes (ARCHIVE) before the times.
      if (!apply_entry_meta(*plan_, dir.fd.get(), "", *dir.self, names_, why)) {
        report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, why});
      }
      if (::fchmod(dir.fd.get(), dir.self->mode & (plan_->owner ? 07777 : 0777)) != 0 ||
          ::futimens(dir.fd.get(), times) != 0) {
        report_.failed(dir.local,
                       Error{ErrorCode::LOCAL_FILE,
                             {},
                             std::string("cannot set mode or mtime: ") + std::strerror(errno)});
      }
    }
    // Post-order, so this one sync makes durable what the directory
    // received and nothing else would sync: the entries of the directories
    // and links made in it (files sync their own) and its mode and mtime.
    // Its own entry is synced with its parent, later; a root's parent is
    // LOCAL_DIR, synced here.
    if (!options_.dry_run && dir.fd && !dir.failed) {
      const bool synced = ::fsync(dir.fd.get()) == 0 &&
                          (!dir.created || dir.parent != nullptr || ::fsync(dir.parent_fd) == 0);
      if (!synced) {
        dir.failed = true;
        report_.failed(dir.local,
                       Error{ErrorCode::LOCAL_FILE,
                             {},
                             std::string("fsync of the directory: ") + std::strerror(errno)});
      }
    }
    if (!dir.failed && !(dir.parent == nullptr && dir.self == std::nullopt)) {
      report_.created("directory", dir.local);
    }
    directory_done(session, dir);
  }

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

}  // namespace

int run_tree_download(const DownloadOptions& options, TransferReport& report) {
  std::vector<Root> roots;
  for (std::size_t i = 0; i < options.paths.size(); ++i) {
    const std::string& remote = options.paths[i];
    const bool contents = options.contents_only[i] || remote.empty();
    roots.push_back(Root{remote, contents ? "" : local_name_for(remote)});
  }
  std::optional<LocalDirectory> dir;
  std::string why;
  if (options.dry_run && !is_existing_directory(options.local_dir)) {
    // Nothing is created in a dry run: every file would be received.
  } else if (dir = LocalDirectory::open_or_create(options.local_dir, why); !dir) {
    report.failed(options.local_dir, Error{ErrorCode::LOCAL_FILE, {}, why});
    return report.finish();
  }
  const int local_fd = dir ? dir->fd() : -1;
  DeletePlan plan(options.filters, options.deletes);
  DeletePlan* deletes = options.deletes.enabled && local_fd >= 0 ? &plan : nullptr;
  TreeWork work(report, [&](SettledPaths& settled, std::vector<DeferredFile>& deferred) {
    TreeDownloadJob job(roots, options, local_fd, report, settled, deferred, deletes);
    return connect_and_run(options.host, options.port, job);
  });
  run_with_retries("ftget", work, options.retries, report);
  if (options.deletes.enabled) {
    report.deleting();
    // As ftsend: nothing is deleted unless every transfer succeeded.
    if (report.failed_so_far() || interrupted()) {
      report.deletions_skipped();
    } else if (deletes != nullptr && !plan.empty()) {
      run_local_delete(local_fd, plan, options.deletes, options.dry_run, report);
    }
  }
  return report.finish();
}

}  // namespace ft::client
