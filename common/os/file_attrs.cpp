#include "common/os/file_attrs.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>

namespace ft {
namespace {

constexpr std::size_t kLookupBuffer = 16 * 1024;

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

bool covered(std::string_view name, const FileAttrs& attrs) {
  return is_acl_xattr(name) ? attrs.acls : attrs.xattrs;
}

// Makes the covered attributes of `path` (a magic link, followed) exactly
// those of `attrs.list`, touching only what differs.
int write_xattrs(const std::string& path, const FileAttrs& attrs) {
  std::vector<Xattr> now;
  if (int err = read_xattrs(path, true, SIZE_MAX / 2, now)) return err;
  for (const Xattr& old : now) {
    if (!covered(old.name, attrs)) continue;
    const bool kept = std::any_of(attrs.list.begin(), attrs.list.end(),
                                  [&](const Xattr& x) { return x.name == old.name; });
    if (!kept && ::removexattr(path.c_str(), old.name.c_str()) != 0 && errno != ENODATA) {
      return errno;
    }
  }
  for (const Xattr& x : attrs.list) {
    if (!covered(x.name, attrs)) continue;
    const bool same = std::any_of(now.begin(), now.end(), [&](const Xattr& old) {
      return old.name == x.name && old.value == x.value;
    });
    if (same) continue;
    if (::setxattr(path.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0) != 0) {
      return errno;
    }
  }
  return 0;
}

// listxattrat(2) and getxattrat(2) (Linux 6.13): the attributes of a name
// in a directory, without the /proc/self/fd path that read_xattrs() needs
// (resolving that magic link was about a sixth of a listing's time).
// Debian 12's headers predate them; their numbers are the same on every
// architecture that has them.
#if defined(SYS_listxattrat)
constexpr long kListxattratCall = SYS_listxattrat;
constexpr long kGetxattratCall = SYS_getxattrat;
#elif defined(__x86_64__) || defined(__aarch64__)
constexpr long kListxattratCall = 465;
constexpr long kGetxattratCall = 464;
#else
constexpr long kListxattratCall = -1;
constexpr long kGetxattratCall = -1;
#endif

// Set once either call answered ENOSYS (or EPERM, which a seccomp filter
// that does not know them may answer: the path fallback answers correctly
// in either case).
std::atomic<bool> xattr_at_missing{kListxattratCall < 0};

// getxattrat's argument block (include/uapi/linux/xattr.h).
struct XattrArgs {
  std::uint64_t value;
  std::uint32_t size;
  std::uint32_t flags;
};

ssize_t missing_call() {
  errno = ENOSYS;
  return -1;
}

ssize_t listxattr_at(int dir, const char* name, char* list, std::size_t size) {
  if (kListxattratCall < 0) return missing_call();
  const long n = ::syscall(kListxattratCall, dir, name, AT_SYMLINK_NOFOLLOW, list, size);
  if (n < 0 && errno == EPERM) return missing_call();
  return n;
}

ssize_t getxattr_at(int dir, const char* name, const char* key, char* value, std::size_t size) {
  if (kGetxattratCall < 0) return missing_call();
  XattrArgs args{reinterpret_cast<std::uintptr_t>(value), static_cast<std::uint32_t>(size), 0};
  const long n =
      ::syscall(kGetxattratCall, dir, name, AT_SYMLINK_NOFOLLOW, key, &args, sizeof args);
  if (n < 0 && errno == EPERM) return missing_call();
  return n;
}

// The attributes through `list` (listxattr's contract) and `get`
// (getxattr's), sorted by name; see read_xattrs().
template <class List, class Get>
int read_xattrs_with(List list, Get get, std::size_t max_bytes, std::vector<Xattr>& out) {
  out.clear();
  char first[1024];  // almost every file has no attribute, or a few short names
  std::string names;
  ssize_t n = list(first, sizeof first);
  if (n >= 0) {
    names.assign(first, static_cast<std::size_t>(n));
  } else {
    if (errno == ENOTSUP) return 0;  // a file system without attributes has none
    if (errno != ERANGE) return errno;
    names.resize(sizeof first);
    for (;;) {
      names.resize(names.size() * 4);
      n = list(names.data(), names.size());
      if (n >= 0) break;
      if (errno != ERANGE || names.size() >= (1u << 20)) return errno;
    }
    names.resize(static_cast<std::size_t>(n));
  }
  if (names.empty()) return 0;
  std::size_t total = 2;
  std::string value(64 * 1024, '\0');  // XATTR_SIZE_MAX
  for (std::size_t at = 0; at < names.size();) {
    std::string name(names.c_str() + at);
    at += name.size() + 1;
    if (name.empty()) continue;
    const ssize_t got = get(name.c_str(), value.data(), value.size());
    if (got < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return errno;
    }
    total += 4 + name.size() + static_cast<std::size_t>(got);
    if (total > max_bytes) return E2BIG;
    out.push_back(Xattr{std::move(name), value.substr(0, static_cast<std::size_t>(got))});
  }
  std::sort(out.begin(), out.end(), [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return 0;
}

}  // namespace

bool is_acl_xattr(std::string_view name) {
  return name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

int read_xattrs(const std::string& path, bool follow, std::size_t max_bytes,
                std::vector<Xattr>& out) {
  return read_xattrs_with(
      [&](char* list, std::size_t size) {
        return follow ? ::listxattr(path.c_str(), list, size)
                      : ::llistxattr(path.c_str(), list, size);
      },
      [&](const char* name, char* value, std::size_t size) {
        return follow ? ::getxattr(path.c_str(), name, value, size)
                      : ::lgetxattr(path.c_str(), name, value, size);
      },
      max_bytes, out);
}

int read_xattrs_at(int dir, const char* name, std::size_t max_bytes, std::vector<Xattr>& out) {
  if (!xattr_at_missing.load(std::memory_order_relaxed)) {
    const int err = read_xattrs_with(
        [&](char* list, std::size_t size) { return listxattr_at(dir, name, list, size); },
        [&](const char* key, char* value, std::size_t size) {
          return getxattr_at(dir, name, key, value, size);
        },
        max_bytes, out);
    if (err != ENOSYS) return err;
    // An older kernel (or a filter that hides the calls): the path from now on.
    xattr_at_missing.store(true, std::memory_order_relaxed);
  }
  return read_xattrs(fd_path(dir) + "/" + name, false, max_bytes, out);
}

const std::string& OwnerNames::user(std::uint32_t uid) {
  auto [it, fresh] = users_.try_emplace(uid);
  if (fresh) {
    passwd pw{};
    passwd* found = nullptr;
    std::string buffer(kLookupBuffer, '\0');
    if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found) {
      it->second = found->pw_name;
    }
  }
  return it->second;
}

const std::string& OwnerNames::group(std::uint32_t gid) {
  auto [it, fresh] = groups_.try_emplace(gid);
  if (fresh) {
    struct group gr {};
    struct group* found = nullptr;
    std::string buffer(kLookupBuffer, '\0');
    if (::getgrgid_r(gid, &gr, buffer.data(), buffer.size(), &found) == 0 && found) {
      it->second = found->gr_name;
    }
  }
  return it->second;
}

std::uint32_t OwnerNames::uid_for(const std::string& name, std::uint32_t fallback) {
  if (name.empty()) return fallback;
  auto [it, fresh] = uids_.try_emplace(name, fallback);
  if (fresh) {
    passwd pw{};
    passwd* found = nullptr;
    std::string buffer(kLookupBuffer, '\0');
    if (::getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found) == 0 && found) {
      it->second = found->pw_uid;
    }
  }
  return it->second;
}

std::uint32_t OwnerNames::gid_for(const std::string& name, std::uint32_t fallback) {
  if (name.empty()) return fallback;
  auto [it, fresh] = gids_.try_emplace(name, fallback);
  if (fresh) {
    struct group gr {};
    struct group* found = nullptr;
    std::string buffer(kLookupBuffer, '\0');
    if (::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found) == 0 && found) {
      it->second = found->gr_gid;
    }
  }
  return it->second;
}

int apply_file_attrs(int fd, const FileAttrs& attrs) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  if (attrs.owner || attrs.group) {
    const uid_t uid = attrs.owner ? attrs.uid : static_cast<uid_t>(-1);
    const gid_t gid = attrs.group ? attrs.gid : static_cast<gid_t>(-1);
    if ((attrs.owner && uid != st.st_uid) || (attrs.group && gid != st.st_gid)) {
      if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) return errno;
    }
  }
  if (S_ISLNK(st.st_mode)) return 0;  // no mode of its own; its attributes are not carried
  const std::string path = fd_path(fd);
  if (attrs.mode && ::chmod(path.c_str(), attrs.mode_bits & 07777) != 0) return errno;
  if (attrs.xattrs || attrs.acls) return write_xattrs(path, attrs);
  return 0;
}

}  // namespace ft
