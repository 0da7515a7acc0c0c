#include "server/storage/sync_policy.hpp"

#include <sys/statfs.h>
#include <sys/utsname.h>

#include <cstdio>

namespace ft::server {
namespace {

// statfs f_type values (linux/magic.h and the file systems' own sources;
// several are not in the installed headers, so they are spelled out here).
constexpr unsigned long kFuse = 0x65735546;  // every FUSE mount: sshfs, glusterfs, ceph-fuse, s3fs
constexpr unsigned long kNfs = 0x6969;
constexpr unsigned long kCifs = 0xFF534D42;
constexpr unsigned long kSmb2 = 0xFE534D42;
constexpr unsigned long kSmb = 0x517B;
constexpr unsigned long kCeph = 0x00C36400;
constexpr unsigned long kAfs = 0x5346414F;
constexpr unsigned long kKafs = 0x6B414653;
constexpr unsigned long kV9fs = 0x01021997;  // 9p: virtio shares, WSL
constexpr unsigned long kCoda = 0x73757245;
constexpr unsigned long kOrangefs = 0x20030528;
constexpr unsigned long kLustre = 0x0BD00BD0;
constexpr unsigned long kGpfs = 0x47504653;
constexpr unsigned long kOverlay = 0x794C7630;
constexpr unsigned long kEcryptfs = 0xF15F;

// syncfs returns the writeback errors recorded on the superblock since
// Linux 5.8 (commit 735e4ae5ba28); before, it returned 0 whatever happened.
bool kernel_syncfs_reports_errors() {
  static const bool reports = [] {
    struct utsname name;
    if (::uname(&name) != 0) return false;
    int major = 0;
    int minor = 0;
    if (std::sscanf(name.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 8);
  }();
  return reports;
}

}  // namespace

SyncMethod sync_method_for_type(unsigned long type) {
  switch (type) {
    // FUSE forwards fsync to the daemon but not syncfs (only virtiofs has a
    // sync_fs), and the daemon's fsync errors are not recorded where syncfs
    // looks: syncfs returns 0 while nothing reached the storage.
    case kFuse:
    // Network file systems: syncfs flushes the client's cache, but errors
    // of the server's own commit (NFS COMMIT, SMB flush, ceph caps) are
    // reported to the file's fsync, and some only there.
    case kNfs:
    case kCifs:
    case kSmb2:
    case kSmb:
    case kCeph:
    case kAfs:
    case kKafs:
    case kV9fs:
    case kCoda:
    case kOrangefs:
    case kLustre:
    case kGpfs:
    // Stacked file systems: syncfs syncs the lower file system, but its
    // writeback errors are recorded on the lower superblock, not on the one
    // syncfs checks; fsync is passed to the real file and returns its error.
    case kOverlay:
    case kEcryptfs:
      return SyncMethod::kPerFile;
    default:
      return SyncMethod::kSyncfs;
  }
}

SyncMethod sync_method_of(int fd) {
  if (!kernel_syncfs_reports_errors()) return SyncMethod::kPerFile;
  struct statfs info;
  if (::fstatfs(fd, &info) != 0) return SyncMethod::kPerFile;
  return sync_method_for_type(static_cast<unsigned long>(info.f_type));
}

}  // namespace ft::server
