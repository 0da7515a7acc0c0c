// Which file systems get one syncfs per batch and which an fsync per file
// (server/storage/sync_policy.hpp): local ones keep the fast path; those
// whose syncfs cannot report an error (FUSE, network and stacked file
// systems) fall back to per-file fsync.
#include "server/storage/sync_policy.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace ft::test {
namespace {

using server::SyncMethod;

TEST(SyncPolicy, LocalFileSystemsAreSyncedWithOneSyncfs) {
  for (unsigned long type :
       {0xEF53UL /* ext2/3/4 */, 0x58465342UL /* xfs */, 0x9123683EUL /* btrfs */,
        0x01021994UL /* tmpfs */, 0xF2F52010UL /* f2fs */, 0x2FC12FC1UL /* zfs */}) {
    EXPECT_EQ(server::sync_method_for_type(type), SyncMethod::kSyncfs) << std::hex << type;
  }
}

TEST(SyncPolicy, FuseNetworkAndStackedFileSystemsAreSyncedFileByFile) {
  for (unsigned long type : {0x65735546UL /* fuse */, 0x6969UL /* nfs */, 0xFF534D42UL /* cifs */,
                             0xFE534D42UL /* smb2 */, 0x00C36400UL /* ceph */,
                             0x01021997UL /* 9p */, 0x794C7630UL /* overlay */}) {
    EXPECT_EQ(server::sync_method_for_type(type), SyncMethod::kPerFile) << std::hex << type;
  }
}

TEST(SyncPolicy, AnUnreadableDescriptorGetsTheSaferMethod) {
  EXPECT_EQ(server::sync_method_of(-1), SyncMethod::kPerFile);
}

}  // namespace
}  // namespace ft::test
