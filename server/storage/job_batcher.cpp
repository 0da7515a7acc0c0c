#include "server/storage/job_batcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>  // renameat2, RENAME_NOREPLACE
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "common/os/anonymous_file.hpp"
#include "server/log/log.hpp"
#include "server/metrics/metrics.hpp"
#include "server/storage/file_lock.hpp"
#include "server/storage/root_fs.hpp"
#include "server/storage/sync_policy.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// Below this many files of one file system, an fsync per file is cheaper
// than one syncfs of it.
constexpr std::size_t kSyncfsThreshold = 4;

void apply_metadata(CommitItem& c) {
  if (c.hash->digest() != c.expected) {
    c.hash_ok = false;
    return;
  }
  if (!c.mode_applied && ::fchmod(c.file, file_mode(c.mode)) != 0) {
    c.err = errno;
    return;
  }
  struct timespec times[2];
  mtime_times(c.mtime_ns, times);
  if (::futimens(c.file, times) != 0) c.err = errno;
}

// The items of a batch that land on one file system (one st_dev), and how
// that file system is synced.
struct FileSystemGroup {
  dev_t device = 0;
  SyncMethod method = SyncMethod::kPerFile;
  int any_dir = -1;  // a real descriptor on it, for syncfs (roots are O_PATH)
  std::vector<CommitItem*> items;
};

struct DirIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator<(const DirIdentity& other) const {
    return device != other.device ? device < other.device : inode < other.inode;
  }
  bool operator==(const DirIdentity& other) const = default;
};

// Groups `live` by file system, from one fstat per distinct directory
// descriptor (items of one batch often share one, through BatchDirs), kept
// in `identities` for the directory syncs; an item whose directory cannot
// be identified fails on its own.
std::vector<FileSystemGroup> group_by_file_system(const std::vector<CommitItem*>& live,
                                                  std::map<int, DirIdentity>& identities) {
  std::vector<FileSystemGroup> groups;
  for (CommitItem* c : live) {
    auto known = identities.find(c->dir);
    if (known == identities.end()) {
      struct stat st;
      if (::fstat(c->dir, &st) != 0) {
        c->err = errno;
        continue;
      }
      known = identities.emplace(c->dir, DirIdentity{st.st_dev, st.st_ino}).first;
    }
    const dev_t device = known->second.device;
    auto group = std::find_if(groups.begin(), groups.end(),
                              [device](const FileSystemGroup& g) { return g.device == device; });
    if (group == groups.end()) {
      groups.push_back(FileSystemGroup{device, sync_method_of(c->dir), c->dir, {}});
      group = groups.end() - 1;
    }
    group->items.push_back(c);
  }
  return groups;
}

// After a syncfs that returned 0, whether writing back `file`'s pages failed
// since it was opened: syncfs checks the errors recorded on the file system
// since *its* descriptor was opened, which may be later than this file's
// open. Waiting on the (now clean) pages costs no I/O and reports the
// file's own writeback errors (file_fdatawait_range), as fsync would.
int check_file_written_back(int file) {
  constexpr unsigned kWait =
      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  if (::sync_file_range(file, 0, 0, kWait) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ESPIPE) return errno;
  return ::fsync(file) == 0 ? 0 : errno;
}

// Puts every item's data and metadata on stable storage, or records why not
// in the item: one syncfs per file system where syncfs reports errors and
// the batch holds enough of its files, else an fsync per file.
void sync_files(const std::vector<FileSystemGroup>& groups) {
  for (const FileSystemGroup& group : groups) {
    if (group.method == SyncMethod::kSyncfs && group.items.size() >= kSyncfsThreshold) {
      // syncfs ends by writing the block device's dirty buffers *after* the
      // file system's sync_fs issued its cache flush (fs/sync.c). Where
      // sync_fs commits a journal that is harmless; on ext4 without a
      // journal (and ext2) the inode tables and bitmaps that writeback
      // just changed may then sit in the disk's volatile cache. The fsync
      // of a directory that follows costs one more flush per batch, not
      // per file, and puts them on stable storage too.
      if (::syncfs(group.any_dir) != 0 || ::fsync(group.any_dir) != 0) {
        const int err = errno;
        for (CommitItem* c : group.items) c->err = err;
        continue;
      }
      for (CommitItem* c : group.items) c->err = check_file_written_back(c->file);
      continue;
    }
    for (CommitItem* c : group.items) {
      if (::fsync(c->file) != 0) c->err = errno;
    }
  }
}

// A file linked from nothing changed its own inode (its link count) as
// well as its directory, and a directory's fsync need not write another
// inode (ext4 without a journal does not): one more syncfs of each file
// system where such files were linked puts those inodes on disk; the
// directory fsyncs that follow flush what it wrote last (see sync_files).
// Files are unnamed only where the file system syncs by syncfs
// (prepare_eager); a group too small for a syncfs fsyncs each such file
// again instead, as sync_files did.
void sync_links(const std::vector<FileSystemGroup>& groups) {
  for (const FileSystemGroup& group : groups) {
    std::vector<CommitItem*> linked;
    for (CommitItem* c : group.items) {
      if (c->err == 0 && c->anonymous) linked.push_back(c);
    }
    if (linked.empty()) continue;
    if (group.method == SyncMethod::kSyncfs && group.items.size() >= kSyncfsThreshold) {
      if (::syncfs(group.any_dir) == 0) continue;
      const int err = errno;
      for (CommitItem* c : linked) c->err = err;
      continue;
    }
    for (CommitItem* c : linked) {
      if (::fsync(c->file) != 0) c->err = errno;
    }
  }
}

// Gives the unnamed file of `c` a fresh hidden temporary name in its
// directory (a replacement is only atomic by rename): 0 with c.temp_name
// set, or an errno value.
int link_under_temporary_name(CommitItem& c) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temporary_name();
    const int err = link_anonymous_file(c.file, c.dir, name);
    if (err == 0) {
      c.temp_name = std::move(name);
      return 0;
    }
    if (err != EEXIST && err != EINTR) return err;
  }
  return EEXIST;
}

// Renames `c`'s file into place, noting the size of a regular file it
// replaced (the quota counts an overwrite as the change of size). Most
// names of a tree upload are new: RENAME_NOREPLACE is tried first, so only
// a name that exists costs the look at what it holds (one fstatat less per
// new file, on the path where syscalls set the pace).
int rename_into_place(CommitItem& c) {
  if (c.anonymous) {
    const int err = link_anonymous_file(c.file, c.dir, c.final_name);
    if (err != EEXIST || c.no_replace) return err;
    // A replacement: only a rename replaces a name atomically. The name
    // it goes through is locked like every upload's temporary file, so
    // that a server of this root starting now leaves it alone.
    if (int lock_err = lock_whole_file(c.file)) return lock_err;
    if (int link_err = link_under_temporary_name(c)) return link_err;
  }
  if (c.no_replace) return rename_in(c.dir, c.temp_name, c.final_name, true);
  if (::renameat2(c.dir, c.temp_name.c_str(), c.dir, c.final_name.c_str(), RENAME_NOREPLACE) == 0) {
    return 0;
  }
  if (errno != EEXIST && errno != EINVAL && errno != ENOSYS) return errno;
  struct stat old;
  if (::fstatat(c.dir, c.final_name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(old.st_mode)) {
    c.replaced = static_cast<std::uint64_t>(old.st_size);
  }
  return rename_in(c.dir, c.temp_name, c.final_name, false);
}

// The group commit, in the order that keeps a crash from exposing a file
// whose data is not on disk: data and metadata synced on every file system
// the batch touches, then renamed, then the directory entries synced.
void run_commits(std::vector<std::shared_ptr<CommitItem>>& items, BatchDirs& dirs) {
  std::vector<CommitItem*> live;
  for (auto& item : items) {
    if (item->prepare && (item->err = item->prepare(*item, dirs)) != 0) continue;
    apply_metadata(*item);
    if (item->hash_ok && item->err == 0) live.push_back(item.get());
  }
  std::map<int, DirIdentity> identities;
  // What --metrics shows as the commit latency: the syncs and renames, not
  // the writes an eager upload's `prepare` made.
  const auto sync_started = std::chrono::steady_clock::now();
  const std::vector<FileSystemGroup> groups = group_by_file_system(live, identities);
  sync_files(groups);
  std::set<DirIdentity> synced_dirs;
  std::vector<std::pair<int, DirIdentity>> dirs_to_sync;
  for (CommitItem* c : live) {
    if (c->err != 0) continue;
    if ((c->err = rename_into_place(*c)) != 0) continue;
    c->temp_name.clear();  // it is the final file now
    const DirIdentity dir = identities.at(c->dir);
    if (synced_dirs.insert(dir).second) dirs_to_sync.emplace_back(c->dir, dir);
  }
  sync_links(groups);
  // A directory fsync is forwarded on every file system (FUSE's FSYNCDIR,
  // NFS's COMMIT of the directory), so it needs no per-kind fallback.
  for (const auto& [fd, dir] : dirs_to_sync) {
    if (::fsync(fd) == 0) continue;
    // Which renames this covers is unknown: fail every item in the dir.
    const int err = errno;
    for (CommitItem* c : live) {
      if (c->err == 0 && identities.at(c->dir) == dir) c->err = err;
    }
  }
  Metrics& counters = metrics();
  if (!live.empty()) counters.commit_sync.observe(std::chrono::steady_clock::now() - sync_started);
  for (auto& item : items) {
    const bool committed = item->hash_ok && item->err == 0;
    (committed ? counters.commits : counters.commit_failures)
        .fetch_add(1, std::memory_order_relaxed);
  }
}

// A batch directory's key: the root's descriptor, then the path below it.
std::string dir_key(int root, const std::vector<std::string>& components) {
  std::string key = std::to_string(root) + ":";
  for (std::size_t i = 0; i + 1 < components.size(); ++i) key += components[i] + "/";
  return key;
}

void run_guarded(const std::function<void()>& done) noexcept {
  try {
    done();
  } catch (const std::exception& e) {
    log::error("job completion failed: %s", e.what());
  } catch (...) {
    log::error("job completion failed");
  }
}

}  // namespace

int BatchDirs::parent_of(int root, const std::vector<std::string>& components) {
  std::string key = dir_key(root, components);
  auto found = open_.find(key);
  if (found != open_.end()) return found->second.get();
  Fd dir;
  if (int err = open_parent_creating(root, components, dir)) return -err;
  const int fd = dir.get();
  open_.emplace(std::move(key), std::move(dir));
  return fd;
}

int BatchDirs::existing_parent_of(int root, const std::vector<std::string>& components) {
  std::string key = dir_key(root, components);
  auto found = open_.find(key);
  if (found != open_.end()) return found->second.get();
  Fd dir;
  if (int err = open_existing_parent(root, components, dir)) return -err;
  const int fd = dir.get();
  open_.emplace(std::move(key), std::move(dir));
  return fd;
}

int BatchDirs::free_space(int root, FreeSpace& out) {
  auto found = available_.find(root);
  if (found == available_.end()) {
    FreeSpace space;
    if (int err = server::free_space(root, space)) return err;
    found = available_.emplace(root, space).first;
  }
  out = found->second;
  return 0;
}

int BatchDirs::available_bytes(int root, std::uint64_t& out) {
  FreeSpace space;
  if (int err = free_space(root, space)) return err;
  out = space.bytes;
  return 0;
}

SyncMethod BatchDirs::sync_method(int dir) {
  auto found = sync_methods_.find(dir);
  if (found == sync_methods_.end()) found = sync_methods_.emplace(dir, sync_method_of(dir)).first;
  return found->second;
}

void BatchDirs::claim_bytes(int root, std::uint64_t bytes) {
  auto found = available_.find(root);
  if (found == available_.end()) return;
  found->second.bytes -= std::min(found->second.bytes, bytes);
  found->second.inodes -= std::min<std::uint64_t>(found->second.inodes, 1);
}

void JobBatcher::submit(std::function<void()> work, std::function<void()> done) {
  jobs_.push_back(Job{std::move(work), std::move(done)});
  maybe_start();
}

void JobBatcher::commit(std::shared_ptr<CommitItem> item, std::function<void()> done) {
  commits_.push_back(Commit{std::move(item), std::move(done)});
  maybe_start();
}

void JobBatcher::close() {
  closed_ = true;
  wait_timer_.close();
  maybe_start();
}

bool JobBatcher::commits_should_wait() const {
  return !closed_ && running_ > 0 && jobs_.empty() && commits_.size() < kMinCommitsWhileBusy;
}

void JobBatcher::on_wait_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<JobBatcher*>(timer->data);
  try {
    self->maybe_start(true);
  } catch (const std::exception& e) {
    // The commits stay queued: the end of the running batch starts them.
    log::error("starting a batch of commits failed: %s", e.what());
  } catch (...) {
    log::error("starting a batch of commits failed");
  }
}

void JobBatcher::maybe_start(bool waited) {
  if (running_ >= kMaxBatchesRunning || (jobs_.empty() && commits_.empty())) return;
  if (!waited && commits_should_wait()) {
    if (!wait_timer_.open()) {
      if (wait_timer_.init(loop_, uv_timer_init) != 0) return;  // the next batch's end starts them
      wait_timer_.set_data(this);
    }
    // Measured from the first commit that waits: a later one does not
    // push the start back.
    if (uv_is_active(wait_timer_.handle()) == 0) {
      uv_timer_start(wait_timer_.get(), on_wait_timer, kCommitWaitMs, 0);
    }
    return;
  }
  if (wait_timer_.open()) uv_timer_stop(wait_timer_.get());
  ++running_;
  std::shared_ptr<std::vector<Job>> jobs;
  if (jobs_.size() <= kMaxJobsPerBatch) {
    jobs = std::make_shared<std::vector<Job>>(std::move(jobs_));
    jobs_.clear();
  } else {
    const auto cut = jobs_.begin() + static_cast<std::ptrdiff_t>(kMaxJobsPerBatch);
    jobs = std::make_shared<std::vector<Job>>(std::make_move_iterator(jobs_.begin()),
                                              std::make_move_iterator(cut));
    jobs_.erase(jobs_.begin(), cut);
  }
  auto commits = std::make_shared<std::vector<Commit>>(std::move(commits_));
  commits_.clear();
  queue_job(
      loop_,
      [jobs, commits] {
        for (Job& job : *jobs) {
          try {
            job.work();
          } catch (...) {
            // One job's failure must not cost the others theirs; the job's
            // completion sees whatever result it left.
          }
        }
        if (commits->empty()) return;
        std::vector<std::shared_ptr<CommitItem>> items;
        for (Commit& c : *commits) items.push_back(c.item);
        BatchDirs dirs;
        run_commits(items, dirs);
        for (auto& item : items) {
          if (item->after) item->after(*item);
        }
      },
      [this, jobs, commits] {
        --running_;
        for (Job& job : *jobs) run_guarded(job.done);
        for (Commit& c : *commits) run_guarded(c.done);
        maybe_start();
      });
}

}  // namespace ft::server
