#include "server/storage/directory_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "common/base/limits.hpp"
#include "common/os/fd.hpp"
#include "common/rules/path_rules.hpp"
#include "server/storage/hash_cache.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {

DirectoryReader::~DirectoryReader() {
  close();
}

void DirectoryReader::close() {
  if (stream_ != nullptr) ::closedir(stream_);
  stream_ = nullptr;
}

int DirectoryReader::open(int root, const std::string& relative) {
  close();
  Fd dir;
  if (int err = open_beneath(root, relative, O_DIRECTORY | O_RDONLY, dir)) return err;
  stream_ = ::fdopendir(dir.get());
  if (stream_ == nullptr) return errno;
  dir.release();  // owned by the DIR stream now
  return 0;
}

int DirectoryReader::read(std::vector<Entry>& out, HashCache* hashes, bool targets, bool meta,
                          std::size_t window) {
  out.clear();
  if (stream_ == nullptr) return 0;
  int err = 0;
  while (out.size() < window) {
    errno = 0;
    struct dirent* d = ::readdir(stream_);
    if (d == nullptr) {
      err = errno;
      close();
      break;
    }
    std::string_view name(d->d_name);
    if (name == "." || name == ".." || name.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
      continue;
    }
    struct stat st;
    if (::fstatat(::dirfd(stream_), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed while we listed
      err = errno;
      close();
      break;
    }
    Entry entry = entry_from_stat(std::string(name), st);
    if (hashes != nullptr && entry.type == EntryType::kFile) {
      // A file that vanished or cannot be read gets the zero hash: the
      // client then sees a difference and sends it again.
      hashes->hash_file(::dirfd(stream_), d->d_name, entry.content_hash);
    }
    if (targets && entry.type == EntryType::kSymlink) {
      char target[limits::kMaxPathBytes + 1];
      ssize_t n = ::readlinkat(::dirfd(stream_), d->d_name, target, sizeof target);
      if (n > 0 && static_cast<std::size_t>(n) <= limits::kMaxPathBytes) {
        entry.target.assign(target, static_cast<std::size_t>(n));
      }
    }
    if (meta) read_entry_meta(::dirfd(stream_), d->d_name, st, names_, entry.meta);
    out.push_back(std::move(entry));
  }
  if (out.size() == window && stream_ != nullptr) {
    // Peek: a directory of exactly one window ends here, not with an empty
    // window after it.
    const long at = ::telldir(stream_);
    for (;;) {
      errno = 0;
      struct dirent* d = ::readdir(stream_);
      if (d == nullptr) {
        if (errno == 0) close();
        break;
      }
      std::string_view name(d->d_name);
      if (name == "." || name == ".." ||
          name.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
        continue;
      }
      ::seekdir(stream_, at);
      break;
    }
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return err;
}

}  // namespace ft::server
