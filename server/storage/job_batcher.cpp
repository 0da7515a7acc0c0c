#include "server/storage/job_batcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <set>
#include <utility>

#include "server/storage/root_fs.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// Below this many files one syncfs is cheaper than an fsync per file.
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

// The group commit, in the order that keeps a crash from exposing a file
// whose data is not on disk: data and metadata synced, then renamed, then
// the directory entries synced.
void run_commits(std::vector<std::shared_ptr<CommitItem>>& items, BatchDirs& dirs) {
  std::vector<CommitItem*> live;
  for (auto& item : items) {
    if (item->prepare && (item->err = item->prepare(*item, dirs)) != 0) continue;
    apply_metadata(*item);
    if (item->hash_ok && item->err == 0) live.push_back(item.get());
  }
  if (live.size() >= kSyncfsThreshold) {
    // syncfs needs a real descriptor on the file system (the root is held
    // O_PATH); any of the batch's directories will do.
    if (::syncfs(live.front()->dir) != 0) {
      const int err = errno;
      for (CommitItem* c : live) c->err = err;
      return;
    }
  } else {
    for (CommitItem* c : live) {
      if (::fsync(c->file) != 0) c->err = errno;
    }
  }
  std::set<std::pair<dev_t, ino_t>> synced_dirs;
  std::set<int> seen_fds;
  std::vector<int> dirs_to_sync;
  for (CommitItem* c : live) {
    if (c->err != 0) continue;
    if ((c->err = rename_in(c->dir, c->temp_name, c->final_name, c->no_replace)) != 0) continue;
    c->temp_name.clear();  // it is the final file now
    // Items of one batch often share a descriptor (BatchDirs): skip the
    // fstat for a descriptor already seen.
    if (!seen_fds.insert(c->dir).second) continue;
    struct stat st;
    if (::fstat(c->dir, &st) == 0 && synced_dirs.insert({st.st_dev, st.st_ino}).second) {
      dirs_to_sync.push_back(c->dir);
    }
  }
  for (int dir : dirs_to_sync) {
    if (::fsync(dir) != 0) {
      // Which renames this covers is unknown: fail every item in the dir.
      const int err = errno;
      struct stat failed;
      ::fstat(dir, &failed);
      for (CommitItem* c : live) {
        struct stat st;
        if (c->err == 0 && ::fstat(c->dir, &st) == 0 && st.st_dev == failed.st_dev &&
            st.st_ino == failed.st_ino) {
          c->err = err;
        }
      }
    }
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
    std::fprintf(stderr, "ftserve: job completion failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ftserve: job completion failed\n");
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

int BatchDirs::available_bytes(int root, std::uint64_t& out) {
  auto found = available_.find(root);
  if (found == available_.end()) {
    std::uint64_t bytes = 0;
    if (int err = server::available_bytes(root, bytes)) return err;
    found = available_.emplace(root, bytes).first;
  }
  out = found->second;
  return 0;
}

void BatchDirs::claim_bytes(int root, std::uint64_t bytes) {
  auto found = available_.find(root);
  if (found != available_.end()) found->second -= std::min(found->second, bytes);
}

void JobBatcher::submit(std::function<void()> work, std::function<void()> done) {
  jobs_.push_back(Job{std::move(work), std::move(done)});
  maybe_start();
}

void JobBatcher::commit(std::shared_ptr<CommitItem> item, std::function<void()> done) {
  commits_.push_back(Commit{std::move(item), std::move(done)});
  maybe_start();
}

void JobBatcher::maybe_start() {
  if (running_ >= kMaxBatchesRunning || (jobs_.empty() && commits_.empty())) return;
  ++running_;
  auto jobs = std::make_shared<std::vector<Job>>(std::move(jobs_));
  auto commits = std::make_shared<std::vector<Commit>>(std::move(commits_));
  jobs_.clear();
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
