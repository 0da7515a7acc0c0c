#include "crash_image.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>

#include "loop_mount.hpp"

namespace ft::testing {

namespace {

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool hidden(const fs::path& relative) {
  for (const fs::path& component : relative) {
    if (component.string().rfind(".ft-", 0) == 0) return true;
  }
  return false;
}

// Stops `pid` and waits until every thread of it stopped (or it exited),
// leaving its state to be collected by its owner (WNOWAIT).
void stop_writer(pid_t pid) {
  if (::kill(pid, SIGSTOP) != 0) return;
  siginfo_t info{};
  ::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WEXITED | WNOWAIT);
}

}  // namespace

CrashExpectations::Entry& CrashExpectations::entry(const std::string& name, Kind kind) {
  Entry& found = entries_[name];
  if (found.kind != kind) {
    // An entry that changes kind starts over (a test never does that by
    // mistake: it names each path once per kind).
    found = Entry{};
    found.kind = kind;
  }
  return found;
}

const std::string& CrashExpectations::hash_of(const fs::path& source) {
  auto [it, inserted] = hashes_.try_emplace(source);
  if (inserted) it->second = file_hash(source);
  return it->second;
}

void CrashExpectations::allow_file(const std::string& name, const fs::path& source) {
  entry(name, Kind::kFile).allowed.insert(hash_of(source));
}

void CrashExpectations::acknowledge_file(const std::string& name, const fs::path& source) {
  Entry& file = entry(name, Kind::kFile);
  file.allowed = {hash_of(source)};
  file.acknowledged = true;
  struct stat st {};
  if (::stat(source.c_str(), &st) == 0) file.mtime_ns = mtime_ns(st);
}

void CrashExpectations::allow_directory(const std::string& name) {
  entry(name, Kind::kDirectory);
}

void CrashExpectations::acknowledge_directory(const std::string& name) {
  entry(name, Kind::kDirectory).acknowledged = true;
}

void CrashExpectations::allow_symlink(const std::string& name, const std::string& target) {
  entry(name, Kind::kSymlink).allowed.insert(target);
}

void CrashExpectations::acknowledge_symlink(const std::string& name, const std::string& target) {
  Entry& link = entry(name, Kind::kSymlink);
  link.allowed = {target};
  link.acknowledged = true;
}

std::size_t CrashExpectations::acknowledged() const {
  std::size_t count = 0;
  for (const auto& [name, expected] : entries_) count += expected.acknowledged ? 1 : 0;
  return count;
}

std::vector<std::string> CrashExpectations::problems(const fs::path& root) const {
  std::vector<std::string> found;
  // Whether `relative` as found in the copy is what `expected` allows.
  auto check = [&](const std::string& relative, const Entry& expected) {
    const fs::path path = root / relative;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (expected.acknowledged) found.push_back("acknowledged " + relative + " is missing");
      return;
    }
    switch (expected.kind) {
      case Kind::kDirectory:
        if (!S_ISDIR(st.st_mode)) found.push_back(relative + " is not a directory");
        return;
      case Kind::kSymlink: {
        std::error_code ec;
        const std::string target = fs::is_symlink(path) ? fs::read_symlink(path, ec).string() : "";
        if (!S_ISLNK(st.st_mode) || ec || !expected.allowed.count(target)) {
          found.push_back(relative + " is not a link to the target sent (found '" + target + "')");
        }
        return;
      }
      case Kind::kFile:
        if (!S_ISREG(st.st_mode)) {
          found.push_back(relative + " is not a regular file");
        } else if (!expected.allowed.count(file_hash(path))) {
          found.push_back(relative + " holds " + std::to_string(st.st_size) +
                          " bytes that no finished transfer sent (partial or stale)");
        } else if (expected.mtime_ns && *expected.mtime_ns != mtime_ns(st)) {
          found.push_back(relative + " has mtime " + std::to_string(mtime_ns(st)) +
                          ", not the acknowledged " + std::to_string(*expected.mtime_ns));
        }
        return;
    }
  };
  std::set<std::string> parents;
  for (const auto& [name, expected] : entries_) {
    if (expected.acknowledged) check(name, expected);
    for (fs::path parent = fs::path(name).parent_path(); !parent.empty();
         parent = parent.parent_path()) {
      parents.insert(parent.string());
    }
  }
  // Every final name in the copy must be one the expectations allow.
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path relative = it->path().lexically_relative(root);
    if (hidden(relative) || relative == "lost+found") {
      it.disable_recursion_pending();
      continue;
    }
    const std::string name = relative.string();
    auto expected = entries_.find(name);
    if (expected != entries_.end()) {
      if (!expected->second.acknowledged) check(name, expected->second);
    } else if (std::error_code type_ec;
               !parents.count(name) ||
               it->symlink_status(type_ec).type() != fs::file_type::directory) {
      found.push_back(name + " is under a final name no transfer used");
    }
  }
  if (ec) found.push_back("cannot walk the copy: " + ec.message());
  return found;
}

CrashCheck cut_power(const fs::path& image, const fs::path& scratch,
                     const std::vector<pid_t>& writers, const CrashExpectations& expected) {
  const auto started = std::chrono::steady_clock::now();
  CrashCheck result;
  const fs::path copy = scratch / "crash.img";
  const fs::path point = scratch / "crash";
  for (pid_t writer : writers) stop_writer(writer);
  // cp reads the backing file through the page cache: it sees every block
  // the loop device wrote and nothing the mounted file system still holds
  // in its own cache. No sync comes before it.
  RunResult copied = run({"/bin/cp", "--sparse=always", image.string(), copy.string()});
  for (pid_t writer : writers) ::kill(writer, SIGCONT);
  if (copied.exit_code != 0) {
    result.failure = "cp failed: " + copied.err;
    return result;
  }
  // Replays the journal as a mount would, then checks everything: 0 and 1
  // (errors fixed, e.g. the free counts ext4 does not journal) are a
  // consistent file system, anything above is damage.
  RunResult fsck = run({"/sbin/e2fsck", "-fy", copy.string()});
  result.fsck_output = fsck.out + fsck.err;
  if (fsck.exit_code != 0 && fsck.exit_code != 1) {
    result.failure = "e2fsck exited " + std::to_string(fsck.exit_code) + ":\n" + result.fsck_output;
  } else {
    MountGuard guard;
    LoopMount mounted = mount_loop(copy, point, "ro", guard);
    if (mounted.outcome == LoopMount::Outcome::kMounted) {
      result.problems = expected.problems(point);
    } else {
      result.failure = "cannot mount the copy: " + mounted.message;
    }
  }
  std::error_code ec;
  fs::remove(copy, ec);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace ft::testing
