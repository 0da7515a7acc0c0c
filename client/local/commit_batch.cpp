#include "client/local/commit_batch.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/local/landing_file.hpp"

namespace ft::client {
namespace {

std::string step_error(const char* step, int err) {
  return std::string(step) + ": " + std::strerror(err);
}

// The distinct values of `values`, in first-seen order (a batch touches few
// directories and fewer file systems: a linear search is enough).
template <class T>
void add_unique(std::vector<T>& values, const T& value) {
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

}  // namespace

void CommitBatch::add(LandingFile& file, std::uint64_t bytes, void* cookie,
                      std::optional<Seal> seal) {
  if (empty()) oldest_ = std::chrono::steady_clock::now();
  files_.push_back(Waiting{&file, cookie, seal});
  bytes_ += bytes;
}

void CommitBatch::add_directory(int dir_fd, int parent_fd, void* cookie) {
  if (empty()) oldest_ = std::chrono::steady_clock::now();
  directories_.push_back(WaitingDirectory{dir_fd, parent_fd, cookie});
}

bool CommitBatch::due(std::chrono::steady_clock::time_point now) const {
  if (empty()) return false;
  return files_.size() >= kMaxFiles || bytes_ >= kMaxBytes || now - oldest_ >= kMaxWait;
}

std::vector<CommitBatch::Outcome> CommitBatch::flush() {
  std::vector<Outcome> outcomes(files_.size());
  for (std::size_t i = 0; i < files_.size(); ++i) outcomes[i].cookie = files_[i].cookie;

  // 0. Mode and mtime first: the sync below makes them durable with the
  //    data. A file that cannot take them is discarded (seal()).
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (!files_[i].seal) continue;
    std::string why;
    if (!files_[i].file->seal(files_[i].seal->mode, files_[i].seal->mtime_ns, why)) {
      outcomes[i].failure = why;
    }
  }

  // 1. The data, mode and mtime of every file (and the records written
  //    beside them) durable: one syncfs per file system. syncfs reports a
  //    writeback error of any file of that file system (Linux 5.8 and
  //    later), which may not be ours: then each of ours is fsynced to learn
  //    which, if any, failed.
  //    The files of a batch share a few directories: each is looked at once.
  std::vector<int> dir_fds;
  std::vector<std::optional<dev_t>> dir_devices;  // none: fstat failed
  for (const Waiting& waiting : files_) {
    const int dir_fd = waiting.file->dir_fd();
    if (std::find(dir_fds.begin(), dir_fds.end(), dir_fd) != dir_fds.end()) continue;
    struct stat st {};
    dir_fds.push_back(dir_fd);
    dir_devices.push_back(::fstat(dir_fd, &st) == 0 ? std::optional<dev_t>(st.st_dev)
                                                    : std::nullopt);
  }
  auto device_of = [&](int dir_fd) {
    return dir_devices[std::find(dir_fds.begin(), dir_fds.end(), dir_fd) - dir_fds.begin()];
  };
  std::vector<dev_t> devices;
  std::vector<int> device_fd;  // a directory on each device
  for (std::size_t d = 0; d < dir_fds.size(); ++d) {
    if (!dir_devices[d]) continue;  // fsynced one by one below
    if (std::find(devices.begin(), devices.end(), *dir_devices[d]) == devices.end()) {
      devices.push_back(*dir_devices[d]);
      device_fd.push_back(dir_fds[d]);
    }
  }
  std::vector<dev_t> synced;
  for (std::size_t d = 0; d < devices.size(); ++d) {
    if (::syncfs(device_fd[d]) == 0) synced.push_back(devices[d]);
  }
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (outcomes[i].failure) continue;
    LandingFile& file = *files_[i].file;
    const std::optional<dev_t> device = device_of(file.dir_fd());
    const bool covered = device && std::find(synced.begin(), synced.end(), *device) != synced.end();
    if (!covered && ::fsync(file.fd()) != 0) {
      outcomes[i].failure = step_error("fsync", errno);
      file.discard();
    }
  }

  // 2. Each durable file renamed into place; 3. each directory synced once,
  //    which makes the renames durable.
  std::vector<int> directories;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (outcomes[i].failure) continue;
    std::string why;
    const int dir_fd = files_[i].file->dir_fd();
    if (!files_[i].file->publish(why)) {
      outcomes[i].failure = why;
      continue;
    }
    add_unique(directories, dir_fd);
  }

  // 2b. A file that had no name (LandingFile::open in a directory this run
  //     made) was linked: that changed its own inode, which the directory
  //     syncs below need not write (ext4 without a journal does not). One
  //     more syncfs of each file system step 1 synced that way, else an
  //     fsync of the file. A failure leaves it in place, verified, its
  //     durability in doubt (as a failed directory sync does).
  std::vector<dev_t> relink_devices;
  std::vector<int> relink_fds;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    LandingFile& file = *files_[i].file;
    if (outcomes[i].failure || !file.linked()) continue;
    const std::optional<dev_t> device = device_of(file.dir_fd());
    if (device && std::find(synced.begin(), synced.end(), *device) != synced.end()) {
      if (std::find(relink_devices.begin(), relink_devices.end(), *device) ==
          relink_devices.end()) {
        relink_devices.push_back(*device);
        relink_fds.push_back(file.dir_fd());
      }
      continue;
    }
    if (::fsync(file.fd()) != 0) outcomes[i].failure = step_error("fsync after the link", errno);
    file.close_linked();
  }
  for (std::size_t d = 0; d < relink_devices.size(); ++d) {
    const int err = ::syncfs(relink_fds[d]) == 0 ? 0 : errno;
    for (std::size_t i = 0; i < files_.size(); ++i) {
      LandingFile& file = *files_[i].file;
      if (!file.linked() || device_of(file.dir_fd()) != relink_devices[d]) continue;
      if (err != 0 && !outcomes[i].failure) outcomes[i].failure = step_error("syncfs", err);
      file.close_linked();
    }
  }
  std::vector<int> failed_directories;
  std::vector<int> failed_errors;
  for (int dir_fd : directories) {
    if (::fsync(dir_fd) != 0) {
      failed_directories.push_back(dir_fd);
      failed_errors.push_back(errno);
    }
  }
  for (std::size_t i = 0; i < files_.size() && !failed_directories.empty(); ++i) {
    if (outcomes[i].failure) continue;
    auto found =
        std::find(failed_directories.begin(), failed_directories.end(), files_[i].file->dir_fd());
    if (found == failed_directories.end()) continue;
    // The file is in place and verified; only its durability is in doubt.
    outcomes[i].failure =
        step_error("fsync of the directory", failed_errors[found - failed_directories.begin()]);
  }

  // 4. The directories that are done: an fsync each (and of the parent
  //    asked for), unless step 3 made that directory durable already, after
  //    every change the caller made to it before adding it.
  for (const WaitingDirectory& waiting : directories_) {
    Outcome outcome{waiting.cookie, std::nullopt, true};
    for (const int fd : {waiting.fd, waiting.parent_fd}) {
      if (fd < 0 || outcome.failure) continue;
      auto failed = std::find(failed_directories.begin(), failed_directories.end(), fd);
      if (failed != failed_directories.end()) {
        outcome.failure = step_error("fsync of the directory",
                                     failed_errors[failed - failed_directories.begin()]);
      } else if (std::find(directories.begin(), directories.end(), fd) == directories.end()) {
        if (::fsync(fd) == 0) {
          directories.push_back(fd);
        } else {
          const int err = errno;
          failed_directories.push_back(fd);
          failed_errors.push_back(err);
          outcome.failure = step_error("fsync of the directory", err);
        }
      }
    }
    outcomes.push_back(std::move(outcome));
  }
  files_.clear();
  directories_.clear();
  bytes_ = 0;
  return outcomes;
}

}  // namespace ft::client
