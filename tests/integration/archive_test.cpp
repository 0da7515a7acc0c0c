// Faithful trees (issue 13, part 4): ftsend -a / ftget -a with the real
// ftserve keep symbolic links (any target), hard links, holes, owners and
// groups, exact modes, times, extended attributes, ACLs and names of any
// bytes. The round trip is judged by rsync itself: `rsync -a -n -i -HAXS -c`
// of the source against the server's copy and against the restore lists
// nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "common/os/fd.hpp"
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

// A POSIX ACL as the kernel stores it in system.posix_acl_access: version
// 2, then (tag, permissions, id) entries, little-endian. No libacl needed.
std::string acl_xattr(std::uint32_t extra_user) {
  std::string out;
  auto u16 = [&](std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  u32(2);
  u16(0x01), u16(6), u32(0xffffffff);  // ACL_USER_OBJ rw-
  u16(0x02), u16(4), u32(extra_user);  // ACL_USER r--
  u16(0x04), u16(4), u32(0xffffffff);  // ACL_GROUP_OBJ r--
  u16(0x10), u16(4), u32(0xffffffff);  // ACL_MASK r--
  u16(0x20), u16(0), u32(0xffffffff);  // ACL_OTHER ---
  return out;
}

void set_xattr(const fs::path& path, const std::string& name, const std::string& value) {
  ASSERT_EQ(::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0), 0)
      << name << " on " << path << ": " << std::strerror(errno);
}

void owned(const fs::path& path, uid_t uid, gid_t gid) {
  ASSERT_EQ(::lchown(path.c_str(), uid, gid), 0) << path << ": " << std::strerror(errno);
}

// A file of `size` bytes holding `data_bytes` of data at `at`, holes elsewhere.
void write_sparse(const fs::path& path, std::uint64_t size, std::uint64_t at,
                  std::uint64_t data_bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd);
  std::string data(data_bytes, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(at)),
            static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
}

std::uint64_t allocated(const fs::path& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// Everything a backup meets that a naive copy loses.
void make_torture_tree(const fs::path& top) {
  fs::create_directories(top / "links/dir");
  write_file(top / "links/dir/target", "target\n");
  fs::create_symlink("dir/target", top / "links/inside");
  fs::create_symlink("nowhere/at/all", top / "links/dangling");
  fs::create_symlink("../../../../../../etc/passwd", top / "links/escaping");
  fs::create_symlink("/etc/hostname", top / "links/absolute");
  fs::create_symlink("dir", top / "links/to-dir");
  fs::create_symlink("a\nlink\x1b[0m", top / "links/odd-target");

  fs::create_directories(top / "hard/one");
  fs::create_directories(top / "hard/two");
  write_file(top / "hard/one/first", "the same file under three names\n");
  fs::create_hard_link(top / "hard/one/first", top / "hard/one/second");
  fs::create_hard_link(top / "hard/one/first", top / "hard/two/third");

  fs::create_directories(top / "sparse");
  write_sparse(top / "sparse/holes", 64 * kMiB, 20 * kMiB, kMiB);
  write_sparse(top / "sparse/tail-hole", 8 * kMiB, 0, 4096);

  fs::create_directories(top / "names");
  for (const char* name : {"new\nline", "ctrl\x01\x1b[31mred", "bad-utf8-\xff\xfe", "-leading-dash",
                           " spaces  around ", "bidi-\xe2\x80\xaetxt.exe", "back\\slash"}) {
    write_file(top / "names" / name, std::string("name: ") + name);
  }
  fs::create_directories(top / "names/dir\twith\ttabs");
  write_file(top / "names/dir\twith\ttabs/inner", "inner");

  fs::create_directories(top / "owners");
  write_file(top / "owners/numeric", "no names for these ids");
  owned(top / "owners/numeric", 4242, 4343);
  write_file(top / "owners/named", "nobody's");
  owned(top / "owners/named", 65534, 65534);
  fs::create_symlink("numeric", top / "owners/link");
  owned(top / "owners/link", 4242, 4343);
  fs::create_directories(top / "owners/daemon-dir");
  owned(top / "owners/daemon-dir", 1, 1);

  fs::create_directories(top / "modes/sticky");
  write_file(top / "modes/setuid", "#!/bin/sh\n");
  write_file(top / "modes/group-writable", "gw");
  write_file(top / "modes/private", "p");
  ::chmod((top / "modes/setuid").c_str(), 04755);
  ::chmod((top / "modes/group-writable").c_str(), 0664);
  ::chmod((top / "modes/private").c_str(), 0600);
  ::chmod((top / "modes/sticky").c_str(), 01777);

  fs::create_directories(top / "xattrs/with-default-acl");
  write_file(top / "xattrs/file", "attributes");
  set_xattr(top / "xattrs/file", "user.comment", "hello");
  set_xattr(top / "xattrs/file", "user.binary", std::string("\0\x01\xff zero", 8));
  set_xattr(top / "xattrs/file", "trusted.root-only", "t");
  write_file(top / "xattrs/acl", "acl");
  set_xattr(top / "xattrs/acl", "system.posix_acl_access", acl_xattr(4242));
  set_xattr(top / "xattrs/with-default-acl", "system.posix_acl_default", acl_xattr(4343));

  fs::create_directories(top / "empty-dir");
  write_file(top / "empty-file", "");
  set_mtime(top / "empty-file", 1000000000, 123456789);
  set_mtime(top / "names", 1600000000, 987654321);
}

// Part of /usr/share/doc as the system has it: every package directory
// that is a symbolic link (what a restore used to lose) with the directory it
// leads to, and a sample of the others. All of it would take minutes on a
// loaded machine, since ftget syncs every file it writes.
void copy_usr_share_doc(const fs::path& to) {
  const fs::path doc = "/usr/share/doc";
  if (!fs::is_directory(doc)) return;
  std::set<std::string> chosen;
  std::size_t others = 0;
  for (const auto& entry : fs::directory_iterator(doc)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_symlink()) {
      chosen.insert(name);
      const fs::path target = fs::read_symlink(entry.path());
      if (target.is_relative() && target.string().find('/') == std::string::npos &&
          fs::exists(doc / target)) {
        chosen.insert(target.string());
      }
    } else if (others++ % 40 == 0) {
      chosen.insert(name);
    }
  }
  fs::create_directories(to);
  std::vector<std::string> argv = {"/bin/cp", "-a"};
  for (const std::string& name : chosen) argv.push_back((doc / name).string());
  argv.push_back(to.string());
  RunResult copied = run(argv, std::chrono::seconds(60));
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
}

class ArchiveTest : public ServerFixture {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: owners, groups and trusted attributes";
    if (::access("/usr/bin/rsync", X_OK) != 0) GTEST_SKIP() << "needs rsync to judge the copy";
    start_server(server_flags());
  }
  virtual std::vector<std::string> server_flags() { return {"--owners"}; }

  RunResult tool(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), bin(name));
    return run(args, std::chrono::seconds(120));
  }

  // What rsync would change to make `to` a copy of `from`: nothing, when
  // the copy is faithful.
  std::string rsync_differences(const fs::path& from, const fs::path& to) {
    RunResult r = run({"/usr/bin/rsync", "-a", "--dry-run", "--itemize-changes", "-HAXS",
                       "--checksum", "--delete", from.string() + "/", to.string() + "/"},
                      std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
};

TEST_F(ArchiveTest, RoundTripOfATortureTreeAndUsrShareDocIsIdenticalByRsync) {
  const fs::path source = work_.path() / "src";
  ASSERT_NO_FATAL_FAILURE(make_torture_tree(source / "torture"));
  ASSERT_NO_FATAL_FAILURE(copy_usr_share_doc(source / "doc"));

  RunResult up = tool("ftsend", {"-a", "-X", "-A", "-q", source.string(), remote("backup")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(rsync_differences(source, root_.path() / "backup/src"), "");
  EXPECT_EQ(visible_tree_names(root_.path()), tree_names(root_.path())) << "server state left";
  EXPECT_LT(allocated(root_.path() / "backup/src/torture/sparse/holes"), 4 * kMiB);

  const fs::path restore = work_.path() / "restore";
  RunResult down = tool("ftget", {"-a", "-X", "-A", "-q", remote("backup/src"), restore.string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(rsync_differences(source, restore / "src"), "");
  EXPECT_LT(allocated(restore / "src/torture/sparse/holes"), 4 * kMiB);

  // Again: nothing changed, nothing to do, and still identical.
  RunResult again = tool("ftsend", {"-a", "-X", "-A", "--json", source.string(), remote("backup")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json_summary(again.out).value("files", -1), 0) << again.out;
  EXPECT_EQ(rsync_differences(source, root_.path() / "backup/src"), "");
}

TEST_F(ArchiveTest, SparseGibibyteMovesAboutItsDataAndKeepsItsHoles) {
  const fs::path source = work_.path() / "sparse";
  fs::create_directories(source);
  ASSERT_NO_FATAL_FAILURE(write_sparse(source / "big", 1024 * kMiB, 300 * kMiB, kMiB));
  const std::string hash = file_hash(source / "big");

  RunResult up = tool("ftsend", {"-r", "--json", source.string(), remote()});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const nlohmann::json sent = json_summary(up.out);
  EXPECT_EQ(sent.value("bytes", std::uint64_t{0}), 1024 * kMiB);
  // Moved: what is not a hole, about the 1 MiB of data.
  EXPECT_LE(sent.value("bytes", std::uint64_t{0}) - sent.value("sparse_bytes", std::uint64_t{0}),
            2 * kMiB)
      << up.out;
  const fs::path stored = root_.path() / "sparse/big";
  EXPECT_EQ(fs::file_size(stored), 1024 * kMiB);
  EXPECT_LE(allocated(stored), 2 * kMiB);
  EXPECT_EQ(file_hash(stored), hash);

  RunResult down =
      tool("ftget", {"-r", "--json", remote("sparse"), (work_.path() / "back").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  const nlohmann::json got = json_summary(down.out);
  EXPECT_LE(got.value("bytes", std::uint64_t{0}) - got.value("sparse_bytes", std::uint64_t{0}),
            2 * kMiB)
      << down.out;
  EXPECT_LE(allocated(work_.path() / "back/sparse/big"), 2 * kMiB);
  EXPECT_EQ(file_hash(work_.path() / "back/sparse/big"), hash);
}

TEST_F(ArchiveTest, HardLinksStayOneFileBothWays) {
  const fs::path source = work_.path() / "h";
  fs::create_directories(source / "a");
  write_file(source / "a/x", "shared");
  fs::create_hard_link(source / "a/x", source / "y");
  fs::create_hard_link(source / "a/x", source / "a/z");
  RunResult up = tool("ftsend", {"-r", "-q", source.string(), remote()});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(fs::hard_link_count(root_.path() / "h/a/x"), 3u);
  EXPECT_TRUE(fs::equivalent(root_.path() / "h/a/x", root_.path() / "h/y"));
  RunResult down = tool("ftget", {"-r", "-q", remote("h"), (work_.path() / "r").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(fs::hard_link_count(work_.path() / "r/h/a/x"), 3u);
  EXPECT_TRUE(fs::equivalent(work_.path() / "r/h/a/z", work_.path() / "r/h/y"));
}

class ArchiveWithoutOwners : public ArchiveTest {
 protected:
  std::vector<std::string> server_flags() override { return {}; }
};

TEST_F(ArchiveWithoutOwners, OwnersNeedTheServersConsent) {
  // A server without --owners does not offer OWNERS: --owner is refused
  // before anything is sent, and -a alone keeps the server's own owner.
  const fs::path source = work_.path() / "o";
  fs::create_directories(source);
  write_file(source / "f", "x");
  owned(source / "f", 4242, 4343);
  RunResult refused = tool("ftsend", {"-r", "--owner", "-q", source.string(), remote()});
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  EXPECT_NE(refused.err.find("OWNERS"), std::string::npos) << refused.err;
  RunResult archive = tool("ftsend", {"-a", "-q", source.string(), remote()});
  ASSERT_EQ(archive.exit_code, 0) << archive.err;
  struct stat st {};
  ASSERT_EQ(::lstat((root_.path() / "o/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

}  // namespace
}  // namespace ft::testing
