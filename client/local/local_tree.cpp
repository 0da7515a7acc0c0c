#include "client/local/local_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {

Fd open_directory(int dir_fd, const std::string& name, bool follow, std::string& why) {
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  int fd;
  do {
    fd = ::openat(dir_fd, name.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    // O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR, not ELOOP.
    struct stat st;
    const bool link =
        err == ELOOP ||
        (err == ENOTDIR && !follow &&
         ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
    why = link ? "is a symbolic link" : std::strerror(err);
  }
  return Fd(fd);
}

DirectoryStream::~DirectoryStream() {
  close();
}

void DirectoryStream::close() {
  if (stream_ != nullptr) ::closedir(stream_);
  stream_ = nullptr;
}

bool DirectoryStream::open(int fd, std::string& why) {
  close();
  // fdopendir() takes the descriptor over: give it a duplicate so that the
  // caller's stays open for openat().
  Fd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy) {
    why = std::strerror(errno);
    return false;
  }
  stream_ = ::fdopendir(copy.get());
  if (stream_ == nullptr) {
    why = std::strerror(errno);
    return false;
  }
  copy.release();  // the DIR stream owns it now: closedir() closes it
  ::rewinddir(stream_);
  fd_ = fd;
  return true;
}

bool DirectoryStream::read(std::vector<LocalEntry>& out, std::size_t window, std::string& why) {
  out.clear();
  while (stream_ != nullptr && out.size() < window) {
    errno = 0;
    dirent* d = ::readdir(stream_);
    if (d == nullptr) {
      const int err = errno;
      close();
      if (err != 0) {
        why = std::strerror(err);
        return false;
      }
      break;
    }
    std::string_view name = d->d_name;
    if (name == "." || name == "..") continue;
    LocalEntry entry;
    entry.name = std::string(name);
    if (::fstatat(fd_, d->d_name, &entry.st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone since
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(),
            [](const LocalEntry& a, const LocalEntry& b) { return a.name < b.name; });
  return true;
}

bool read_directory(int fd, std::vector<LocalEntry>& out, std::string& why) {
  DirectoryStream stream;
  return stream.open(fd, why) && stream.read(out, SIZE_MAX, why);
}

std::string_view special_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
  return "special file";
}

std::optional<std::string> link_target_violation(std::string_view link_path,
                                                 std::string_view target) {
  if (auto why = symlink_target_violation(link_path, target)) return why;
  bool named = false;
  std::size_t start = 0;
  while (start <= target.size()) {
    std::size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    std::string_view part = target.substr(start, slash - start);
    if (part == "..") {
      if (named) return "'..' after a name in the link target (it may climb through another link)";
    } else if (!part.empty() && part != ".") {
      named = true;
    }
    start = slash + 1;
  }
  return std::nullopt;
}

std::string join_path(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out += '/';
  out += name;
  return out;
}

bool read_small_file_at(int dir_fd, const char* name, std::size_t max_bytes, std::string& text,
                        bool& missing, std::string& why) {
  missing = false;
  why.clear();
  Fd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) {
      missing = true;
    } else {
      why = std::strerror(errno);
    }
    return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    why = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return false;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    why = "larger than " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  text.resize(static_cast<std::size_t>(st.st_size));
  if (int error = read_exact_at(fd.get(), text.data(), text.size(), 0); error != 0) {
    why = std::strerror(error);
    return false;
  }
  return true;
}

}  // namespace ft::client
