#include "client/local/local_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ft::client {
namespace {

// The directory holding `path`'s last component.
std::string parent_of(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// fsyncs the directory `path`.
bool sync_directory(const std::string& path, std::string& why) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (!synced) why = "cannot sync directory " + path + ": " + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return synced;
}

// Creates one directory and syncs its parent, so that its name survives a
// crash like the files that will land in it; an existing directory is fine.
bool make_directory(const std::string& path, std::string& why) {
  if (::mkdir(path.c_str(), 0777) == 0) return sync_directory(parent_of(path), why);
  int err = errno;
  if (err == EEXIST && is_existing_directory(path)) return true;
  why = "cannot create directory " + path + ": " + std::strerror(err == EEXIST ? ENOTDIR : err);
  return false;
}

}  // namespace

bool is_existing_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::optional<LocalDirectory> LocalDirectory::open_or_create(const std::string& path,
                                                             std::string& why) {
  if (path.empty()) {
    why = "empty directory name";
    return std::nullopt;
  }
  if (!is_existing_directory(path)) {
    // Each prefix ending before a '/' is a parent to create first.
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (path[slash - 1] == '/') continue;
      if (!make_directory(path.substr(0, slash), why)) return std::nullopt;
    }
    if (!make_directory(path, why)) return std::nullopt;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  return LocalDirectory(Fd(fd));
}

}  // namespace ft::client
