#include "server/storage/root_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <random>

#include "common/base/limits.hpp"
#include "common/crypto/checksum.hpp"
#include "common/os/exact_io.hpp"
#include "common/rules/path_rules.hpp"
#include "server/storage/archive_fs.hpp"
#include "server/storage/file_lock.hpp"

namespace ft::server {

int retry_open(const std::function<long()>& attempt, Fd& out) {
  for (int eagain = 0;;) {
    const long fd = attempt();
    if (fd >= 0) {
      out.reset(static_cast<int>(fd));
      return 0;
    }
    if (errno == EINTR) continue;
    // EAGAIN: a concurrent rename raced the lookup and the kernel asks to
    // retry. Bounded, so that a peer renaming in a loop cannot pin a pool
    // thread for ever; the caller then fails with EAGAIN.
    if (errno != EAGAIN || ++eagain > kMaxOpenRetries) return errno;
  }
}

namespace {

int openat2_retrying(int dir, const std::string& relative, const open_how& how, Fd& out) {
  const char* path = relative.empty() ? "." : relative.c_str();
  return retry_open([&] { return ::syscall(SYS_openat2, dir, path, &how, sizeof how); }, out);
}

}  // namespace

int open_beneath(int root, const std::string& relative, int flags, Fd& out) {
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return openat2_retrying(root, relative, how, out);
}

int open_beneath_without_links(int dir, const std::string& relative, int flags, Fd& out) {
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  // RESOLVE_NO_SYMLINKS: ELOOP at the first symbolic link on the way,
  // whatever it points to (and it implies RESOLVE_NO_MAGICLINKS).
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  return openat2_retrying(dir, relative, how, out);
}

static std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

int open_parent_creating(int root, const std::vector<std::string>& components, Fd& dir_out) {
  if (components.empty()) return EINVAL;
  const std::size_t parents = components.size() - 1;
  Fd dir;
  int err =
      open_beneath_without_links(root, join(components, parents), O_DIRECTORY | O_RDONLY, dir);
  if (err == 0 || err != ENOENT) {
    dir_out = std::move(dir);
    return err;
  }
  // Walk down from the root, creating what is missing. Each step opens one
  // name from the directory already held, refusing a symbolic link, so a
  // link planted or swapped in on the way is never followed.
  Fd current;
  if ((err = open_beneath_without_links(root, "", O_DIRECTORY | O_RDONLY, current)) != 0) {
    return err;
  }
  for (std::size_t i = 0; i < parents; ++i) {
    bool created = true;
    if (::mkdirat(current.get(), components[i].c_str(), 0755) != 0) {
      if (errno != EEXIST) return errno;
      created = false;
    }
    // A file acknowledged in a directory this upload made must survive a
    // power cut: the new entry is made durable in its parent before the
    // walk goes on (the commit syncs the file's own directory).
    if (created && ::fsync(current.get()) != 0) return errno;
    Fd next;
    err = open_beneath_without_links(current.get(), components[i], O_DIRECTORY | O_RDONLY, next);
    if (err != 0) return err;
    current = std::move(next);
  }
  dir_out = std::move(current);
  return 0;
}

int open_directory_creating(int root, const std::string& relative, Fd& out) {
  constexpr int kFlags = O_PATH | O_DIRECTORY;
  int err = open_beneath_without_links(root, relative, kFlags, out);
  if (err != ENOENT) return err;
  Fd current;
  if ((err = open_beneath_without_links(root, "", kFlags, current)) != 0) return err;
  for (const std::string& component : split_path(relative)) {
    if (::mkdirat(current.get(), component.c_str(), 0755) != 0 && errno != EEXIST) return errno;
    Fd next;
    if ((err = open_beneath_without_links(current.get(), component, kFlags, next)) != 0) {
      return err;
    }
    current = std::move(next);
  }
  out = std::move(current);
  return 0;
}

int open_partial_data(int dir, const std::string& name, std::uint64_t size, Fd& file,
                      StreamHash128& hash, std::uint64_t& offset) {
  // Locked before anything is read or changed: the same upload may arrive
  // at another server of this root at once (docs/scale-out.md).
  if (int err = open_locked(dir, name, true, file)) return err;
  struct stat st;
  if (::fstat(file.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  if (st.st_nlink != 1) {
    // A hard link planted under the partial file's name: its data is not
    // this upload's, and writing it would change the file it shares an
    // inode with. The name is dropped and made afresh.
    file.reset();
    if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) return errno;
    if (int err = open_locked(dir, name, true, file)) return err;
    if (::fstat(file.get(), &st) != 0) return errno;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) return EINVAL;
  }
  const int fd = file.get();
  offset = static_cast<std::uint64_t>(st.st_size);
  if (offset > size) {
    if (::ftruncate(fd, 0) != 0) return errno;
    offset = 0;
  }
  // Sized to the data held: most uploads start with none, and a fresh
  // 1 MiB buffer per file would cost more than the file.
  Bytes buffer(
      static_cast<std::size_t>(std::min<std::uint64_t>(offset, limits::kDefaultChunkSize)));
  for (std::uint64_t at = 0; at < offset;) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(offset - at, buffer.size()));
    if (read_exact_at(fd, buffer.data(), take, at) != 0) {
      // Unreadable partial data is worth nothing: start over.
      hash.reset();
      offset = 0;
      return ::ftruncate(fd, 0) == 0 ? 0 : errno;
    }
    hash.update(ByteSpan(buffer.data(), take));
    at += take;
  }
  // The TTL cleanup counts age from the last activity.
  ::futimens(fd, nullptr);
  return 0;
}

int open_existing_parent(int root, const std::vector<std::string>& components, Fd& dir_out) {
  if (components.empty()) return EINVAL;
  return open_beneath_without_links(root, join(components, components.size() - 1),
                                    O_DIRECTORY | O_RDONLY, dir_out);
}

int check_name_policy(int parent, const std::string& name, NamePolicy policy) {
  if (parent < 0) return policy.create ? 0 : kForbiddenByRights;
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return errno;
    return policy.create ? 0 : kForbiddenByRights;
  }
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (policy.overwrite) return 0;
  return policy.create ? EEXIST : kForbiddenByRights;
}

int rename_in(int dir, const std::string& from, const std::string& to, bool no_replace) {
  if (!no_replace) return ::renameat(dir, from.c_str(), dir, to.c_str()) == 0 ? 0 : errno;
  if (::renameat2(dir, from.c_str(), dir, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // A file system without RENAME_NOREPLACE: linking the new name fails on an
  // existing one just as atomically; the hidden name is then dropped.
  if (::linkat(dir, from.c_str(), dir, to.c_str(), 0) != 0) return errno;
  ::unlinkat(dir, from.c_str(), 0);
  return 0;
}

int free_space(int fd, FreeSpace& out) {
  struct statvfs vfs;
  if (::fstatvfs(fd, &vfs) != 0) return errno;
  // Nothing can be written there, whatever the space: say so.
  if ((vfs.f_flag & ST_RDONLY) != 0) return EROFS;
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  const std::uint64_t unit = vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize;
  const std::uint64_t blocks = vfs.f_bavail;
  const std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
  out.bytes = unit != 0 && blocks > most / unit ? most : blocks * unit;
  out.inodes = vfs.f_favail;
  out.inodes_counted = vfs.f_files != 0;
  out.device = st.st_dev;
  return 0;
}

int available_bytes(int fd, std::uint64_t& out) {
  FreeSpace space;
  if (int err = free_space(fd, space)) return err;
  out = space.bytes;
  return 0;
}

int directory_identity(int fd, std::string& out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  out = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
        std::to_string(static_cast<unsigned long long>(st.st_ino));
  return 0;
}

mode_t file_mode(std::uint32_t peer_mode) {
  return static_cast<mode_t>(peer_mode & 0777) & ~process_umask();
}

mode_t directory_mode(std::uint32_t peer_mode) {
  // The owner (the server) keeps rwx: a peer's 000 would lock every
  // identity, and the server itself, out of the directory.
  return file_mode(peer_mode) | S_IRWXU;
}

mode_t process_umask() {
  static const mode_t mask = [] {
    mode_t m = ::umask(0);
    ::umask(m);
    return m;
  }();
  return mask;
}

int create_temp_file(int dir, std::string& name_out, Fd& file_out, mode_t mode) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temporary_name();
    // Read and write: a delta upload reads back the ranges it copied from
    // its basis, to hash them as the file holds them.
    int fd = ::openat(dir, name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0) {
      name_out = std::move(name);
      file_out.reset(fd);
      return 0;
    }
    if (errno != EEXIST && errno != EINTR) return errno;
  }
  return EEXIST;
}

Entry entry_from_stat(std::string name, const struct stat& st) {
  Entry e;
  e.name = std::move(name);
  if (S_ISREG(st.st_mode)) {
    e.type = EntryType::kFile;
    e.size = static_cast<std::uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    e.type = EntryType::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    e.type = EntryType::kSymlink;
  } else {
    e.type = EntryType::kOther;
  }
  e.mtime_ns = mtime_ns_of(st);
  e.mode = st.st_mode & 07777;
  return e;
}

int make_directory(int root, const std::vector<std::string>& components, std::uint32_t mode,
                   const std::int64_t* mtime_ns, NamePolicy policy, bool keep_existing) {
  // The root is the identity's (or the server's) own directory: a peer
  // never changes its mode or times; it exists, so the request succeeds.
  if (components.empty()) return 0;
  Fd parent;
  int err = open_existing_parent(root, components, parent);
  if (err == ENOENT) {
    // Decided before anything is created, not even a missing parent.
    if (!policy.create || keep_existing) return kForbiddenByRights;
    err = open_parent_creating(root, components, parent);
  }
  if (err != 0) return err;
  const char* name = components.back().c_str();
  bool created = false;
  if (policy.create && !keep_existing) {
    if (::mkdirat(parent.get(), name, 0700) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return errno;
    }
  }
  struct stat st;
  if (::fstatat(parent.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT && (!policy.create || keep_existing) ? kForbiddenByRights : errno;
  }
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  // Changing a directory that was already there is overwriting it; without
  // that right (or for a directory that must be kept) the request succeeds
  // and leaves it as it is.
  if (!created && (!policy.overwrite || keep_existing)) return 0;
  int fd = ::openat(parent.get(), name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  Fd dir(fd);
  if (::fchmod(dir.get(), directory_mode(mode)) != 0) return errno;
  if (mtime_ns != nullptr) {
    struct timespec times[2];
    mtime_times(*mtime_ns, times);
    if (::futimens(dir.get(), times) != 0) return errno;
  }
  // A new directory is on stable storage, with its entry in its parent,
  // before the reply: files acknowledged in it later depend on it. A mode
  // or mtime applied to an existing one rides on the next sync of its file
  // system (one fsync per MKDIR of a tree would cost more than it keeps).
  if (created && (::fsync(dir.get()) != 0 || ::fsync(parent.get()) != 0)) return errno;
  return 0;
}

int make_symlink(int root, const std::vector<std::string>& components, const std::string& target,
                 std::int64_t mtime_ns, NamePolicy policy) {
  Fd parent;
  int err = open_existing_parent(root, components, parent);
  if (err != 0 && err != ENOENT) return err;
  const std::string& name = components.back();
  // Decided before anything is created, not even a missing parent.
  if (int refused = check_name_policy(err == ENOENT ? -1 : parent.get(), name, policy)) {
    return refused;
  }
  if (err == ENOENT && (err = open_parent_creating(root, components, parent)) != 0) return err;
  // Made under a hidden name, then renamed: the name never shows a
  // half-made link, and a file or link already there is replaced at once.
  const std::string temp_name = temporary_name();
  const char* temp = temp_name.c_str();
  if (::symlinkat(target.c_str(), parent.get(), temp) != 0) return errno;
  struct timespec times[2];
  mtime_times(mtime_ns, times);
  if (::utimensat(parent.get(), temp, times, AT_SYMLINK_NOFOLLOW) != 0) {
    err = errno;
  } else {
    // Without overwrite, a name that appeared since the check is kept.
    err = rename_in(parent.get(), temp, name, !policy.overwrite);
  }
  if (err != 0) {
    ::unlinkat(parent.get(), temp, 0);
    return err;
  }
  if (::fsync(parent.get()) != 0) return errno;
  return 0;
}

std::string temporary_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[64];
  std::snprintf(name, sizeof name, "%stmp-%016llx", std::string(kReservedPrefix).c_str(),
                static_cast<unsigned long long>(rng()));
  return name;
}

int stat_path(int root, const std::string& relative, Entry& out, bool meta) {
  struct stat st;
  if (relative.empty()) {
    if (::fstat(root, &st) != 0) return errno;
    out = entry_from_stat("", st);
    if (meta) {
      OwnerNames names;
      read_entry_meta(root, ".", st, names, out.meta);
    }
    return 0;
  }
  std::vector<std::string> parts = split_path(relative);
  Fd parent;
  std::string parent_path = join(parts, parts.size() - 1);
  if (int err = open_beneath(root, parent_path, O_DIRECTORY | O_RDONLY, parent)) return err;
  if (::fstatat(parent.get(), parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  out = entry_from_stat(parts.back(), st);
  if (meta) {
    OwnerNames names;
    read_entry_meta(parent.get(), parts.back().c_str(), st, names, out.meta);
  }
  return 0;
}

}  // namespace ft::server
