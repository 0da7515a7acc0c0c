#include "client/transfer/local_delete.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "client/local/local_tree.hpp"
#include "client/report/transfer_report.hpp"
#include "common/os/fd.hpp"
#include "common/os/mtime.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Opens the directory `path` (relative to `top`, "" for `top` itself)
// one component at a time, refusing a symbolic link anywhere (ELOOP or
// ENOTDIR): the walk stays inside the destination whatever was put there.
Fd open_below(int top, const std::string& path, std::string& why) {
  Fd current(::fcntl(top, F_DUPFD_CLOEXEC, 0));
  if (!current) {
    why = std::strerror(errno);
    return {};
  }
  std::size_t at = 0;
  while (at < path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    const std::string name = path.substr(at, slash - at);
    at = slash + 1;
    Fd next(::openat(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      why = std::strerror(errno);
      return {};
    }
    current = std::move(next);
  }
  return current;
}

std::string name_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Error local_error(const std::string& message) {
  return Error{ErrorCode::LOCAL_FILE, {}, message};
}

}  // namespace

void run_local_delete(int destination_fd, DeletePlan& plan, const DeleteOptions& options,
                      bool dry_run, TransferReport& report) {
  while (auto dir = plan.next_to_expand()) {
    std::string why;
    Fd fd = open_below(destination_fd, dir->path, why);
    std::vector<LocalEntry> entries;
    if (!fd || !read_directory(fd.get(), entries, why)) {
      report.failed(dir->shown, local_error("cannot read the directory to delete it: " + why));
      plan.keep(*dir);
      continue;
    }
    for (const LocalEntry& entry : entries) {
      plan.add_inside(*dir, entry.name, S_ISDIR(entry.st.st_mode));
    }
  }
  for (const std::string& kept : plan.kept()) {
    report.note("kept " + printable(kept) + ": it holds excluded names");
  }
  std::vector<Deletion> queue = plan.ordered();
  report.deletions_over_limit(apply_max_delete(queue, options.max), options.max);
  std::set<std::string> parents;
  for (const Deletion& deletion : queue) {
    if (dry_run) {
      report.deleted(deletion.shown, deletion.directory);
      continue;
    }
    std::string why;
    Fd parent = open_below(destination_fd, parent_of(deletion.path), why);
    const std::string name = name_of(deletion.path);
    struct stat st {};
    if (parent && ::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone already: as wished
      why = std::strerror(errno);
      parent.reset();
    }
    // The type is read again here: what is at the name now decides
    // unlink or rmdir, and rmdir removes only an empty directory.
    if (parent &&
        ::unlinkat(parent.get(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) {
      why = std::strerror(errno);
      parent.reset();
    }
    if (!parent) {
      report.failed(deletion.shown, local_error("cannot delete: " + why));
      continue;
    }
    parents.insert(parent_of(deletion.path));
    report.deleted(deletion.shown, deletion.directory);
  }
  // Each directory that lost names gets the mtime the transfer gave it
  // back, and is synced once: the deletions survive a power cut like the
  // transfers before them.
  for (const std::string& path : parents) {
    std::string why;
    Fd dir = open_below(destination_fd, path, why);
    if (!dir) continue;
    if (const DeletePlan::DirTimes* times = plan.times_of(path)) {
      const timespec set[2] = {{0, UTIME_OMIT}, timespec_of_ns(times->mtime_ns)};
      if (::futimens(dir.get(), set) != 0) {
        report.failed(
            path.empty() ? "." : path,
            local_error(std::string("cannot set mtime after deleting: ") + std::strerror(errno)));
      }
    }
    if (::fsync(dir.get()) != 0) {
      report.failed(path.empty() ? "." : path,
                    local_error(std::string("fsync after deleting: ") + std::strerror(errno)));
    }
  }
}

}  // namespace ft::client
