// Identities stay apart (issue 10, findings 4 and 5; docs/server.md
// "Keys"): a sub-directory is never reached through a symbolic link, another
// identity's configured sub-directory is not this one's to create, replace
// or write into, a link's directory is reached without links so that its
// target is checked where the file system resolves it, and directories
// swapped for links, hard links and renames while requests run never let a
// request read or write outside the identity's tree.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr const char* kSecret = "bob's secret";

class IdentityIsolation : public ServerFixture {
 protected:
  /// `ftserve keys add NAME --rights RIGHTS [--subdir DIR]`: the client key.
  std::string add_key(const std::string& name, const std::string& rights,
                      const std::string& subdir = "") {
    std::vector<std::string> argv = {bin("ftserve"),      "keys",     "add", name, "--keys",
                                     keys_file_.string(), "--rights", rights};
    if (!subdir.empty()) {
      argv.push_back("--subdir");
      argv.push_back(subdir);
    }
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  void start() { start_server({"--keys", keys_file_.string()}); }
  /// A connection authenticated as the identity of `key`, past the hello.
  std::unique_ptr<RawClient> connect(const std::string& key) {
    auto client = std::make_unique<RawClient>(server_.port(), keyed(key));
    EXPECT_TRUE(client->connected());
    client->send_hello(kCapTrees | kCapEager);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  /// Every name below `dir` (links not followed) whose link, when a local
  /// tool follows it, resolves outside `tree`.
  static std::vector<std::string> links_leaving(const fs::path& dir, const fs::path& tree) {
    std::vector<std::string> leaving;
    const std::string inside = fs::canonical(tree).string();
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::end(it); ++it) {
      if (!it->is_symlink()) continue;
      std::error_code ec;
      const fs::path resolved = fs::weakly_canonical(it->path(), ec);
      const std::string where = resolved.string();
      if (ec || (where != inside && where.rfind(inside + "/", 0) != 0)) {
        leaving.push_back(it->path().string() + " -> " + where);
      }
    }
    return leaving;
  }

  fs::path keys_file_ = work_ / "keys";
};

// Finding 4: a create-only identity on the whole root made `carol -> bob`;
// carol's connections then saw bob's tree.
TEST_F(IdentityIsolation, SubdirectoryThroughALinkIsRefusedNotServed) {
  const std::string admin = add_key("admin", "list,read,create");
  const std::string bob = add_key("bob", "list,read,create", "bob");
  const std::string carol = add_key("carol", "list,read,create", "carol");
  const std::string dave = add_key("dave", "list,read,create", "team/dave");
  start();
  {
    auto b = connect(bob);
    EXPECT_EQ(put_file(*b, 1, "secret", kSecret), "OK");
  }
  // The request that did it is refused, at the name and on the way to one.
  auto a = connect(admin);
  EXPECT_EQ(make_link(*a, 2, "carol", "bob"), "FORBIDDEN");
  EXPECT_EQ(make_link(*a, 3, "team", "bob"), "FORBIDDEN");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_.path() / "carol")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_.path() / "team")));

  // The same links made by a local user: carol and dave are refused with a
  // specific error and a log line, never served bob's tree.
  fs::create_directory_symlink("bob", root_.path() / "carol");
  fs::create_directory_symlink("bob", root_.path() / "team");
  for (const auto& [name, key] : {std::pair{"carol", carol}, std::pair{"dave", dave}}) {
    auto c = std::make_unique<RawClient>(server_.port(), keyed(key));
    ASSERT_TRUE(c->connected());
    c->send_hello(kCapTrees);
    auto error = c->read_connection_error();
    ASSERT_TRUE(error.has_value()) << name;
    EXPECT_EQ(static_cast<ErrorCode>(error->code), ErrorCode::PATH_ESCAPES_ROOT) << name;
  }
  EXPECT_TRUE(
      server_.wait_for_err("identity carol: refused: its directory carol is (or passes "
                           "through) a symbolic link"))
      << server_.err();
  EXPECT_TRUE(server_.wait_for_err("identity dave: refused")) << server_.err();
  // The real client says so and exits "remote refused".
  const fs::path carol_key = work_ / "carol.key";
  write_private(carol_key, carol);
  RunResult ls = run({bin("ftls"), "--key-file", carol_key.string(), remote()});
  EXPECT_EQ(ls.exit_code, static_cast<int>(Exit::kRemoteRefused)) << ls.out << ls.err;
  EXPECT_EQ(ls.out.find("secret"), std::string::npos) << ls.out;
  EXPECT_EQ(read_file(root_.path() / "bob/secret"), kSecret);
}

// The containing identity may read another's tree but not change it.
TEST_F(IdentityIsolation, ConfiguredSubdirectoriesAreReservedForTheirOwner) {
  const std::string admin = add_key("admin", "list,read,create,overwrite");
  const std::string bob = add_key("bob", "list,read,create,overwrite", "bob");
  const std::string team = add_key("team", "list,read,create,overwrite", "team");
  add_key("carol", "list,read,create", "team/carol");
  add_key("dave", "list,read,create", "group/dave");
  start();
  {
    auto b = connect(bob);
    EXPECT_EQ(put_file(*b, 1, "secret", kSecret), "OK");
    EXPECT_EQ(make_dir(*b, 2, "", 0, 1, kMkdirSetMtime), "OK");
  }
  ::chmod((root_.path() / "bob").c_str(), 0750);
  struct stat before {};
  ASSERT_EQ(::stat((root_.path() / "bob").c_str(), &before), 0);

  auto a = connect(admin);
  EXPECT_EQ(put_file(*a, 1, "bob", "x"), "FORBIDDEN");
  EXPECT_EQ(put_file(*a, 2, "bob/secret", "overwritten"), "FORBIDDEN");
  EXPECT_EQ(put_file(*a, 3, "bob/new", "x", 0644, true), "FORBIDDEN");
  EXPECT_EQ(make_link(*a, 4, "bob/link", "secret"), "FORBIDDEN");
  EXPECT_EQ(make_dir(*a, 5, "bob/sub", 0755), "FORBIDDEN");
  // MKDIR of the reserved name itself: OK, and neither mode nor times move.
  EXPECT_EQ(make_dir(*a, 6, "bob", 0, 42, kMkdirSetMtime), "OK");
  // A reserved name that does not exist yet is not created.
  EXPECT_EQ(make_dir(*a, 7, "team/carol", 0755), "FORBIDDEN");
  EXPECT_EQ(put_file(*a, 8, "team/carol", "x"), "FORBIDDEN");
  EXPECT_EQ(make_link(*a, 9, "team", "bob"), "FORBIDDEN");
  EXPECT_EQ(make_dir(*a, 10, "team", 0755), "FORBIDDEN");  // team's own, not made yet
  // A directory on the way to one can be made (it is only a directory),
  // but not replaced.
  EXPECT_EQ(make_dir(*a, 15, "group", 0755), "OK");
  EXPECT_EQ(put_file(*a, 16, "group", "x"), "FORBIDDEN");
  EXPECT_EQ(make_link(*a, 17, "group/dave", "../bob"), "FORBIDDEN");
  // Reads are the containing identity's to make.
  EXPECT_EQ(get_file(*a, 11, "bob/secret"), kSecret);
  // A write through a link to the reserved name is refused: writes never
  // follow links.
  fs::create_directory_symlink("bob", root_.path() / "alias");
  EXPECT_EQ(put_file(*a, 12, "alias/planted", "x"), "PATH_ESCAPES_ROOT");
  EXPECT_EQ(make_dir(*a, 13, "alias/d", 0755), "PATH_ESCAPES_ROOT");
  EXPECT_EQ(make_link(*a, 14, "alias/l", "x"), "PATH_ESCAPES_ROOT");

  // Nested: "team" holds carol's directory, and is refused the same way.
  auto t = connect(team);
  EXPECT_EQ(make_dir(*t, 1, "carol", 0755), "FORBIDDEN");
  EXPECT_EQ(put_file(*t, 2, "carol/x", "x"), "FORBIDDEN");
  EXPECT_EQ(put_file(*t, 3, "mine", "x"), "OK");

  struct stat after {};
  ASSERT_EQ(::stat((root_.path() / "bob").c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(read_file(root_.path() / "bob/secret"), kSecret);
  EXPECT_EQ(tree_names(root_.path() / "bob"), std::vector<std::string>{"secret"});
  EXPECT_FALSE(fs::exists(root_.path() / "team/carol"));
  // Bob's own requests still change his tree.
  auto b = connect(bob);
  EXPECT_EQ(make_dir(*b, 1, "sub", 0755), "OK");
  EXPECT_EQ(put_file(*b, 2, "secret", "new"), "OK");
}

// Finding 5: `a/up -> ..`, then `a/up/esc -> ../../outside/secret`: the
// second link's directory is a link, so it is not made there; and a target
// with ".." after a name is refused, since it would climb from wherever the
// name leads.
TEST_F(IdentityIsolation, LinkDirectoryIsReachedWithoutLinks) {
  const std::string alice = add_key("alice", "list,read,create,overwrite", "alice");
  const std::string admin = add_key("admin", "list,read");
  fs::create_directories(root_.path() / "outside");
  write_file(root_.path() / "outside/secret", kSecret);
  start();
  auto c = connect(alice);
  EXPECT_EQ(make_link(*c, 1, "a/up", ".."), "OK");
  EXPECT_EQ(make_link(*c, 2, "a/up/esc", "../../outside/secret"), "PATH_ESCAPES_ROOT");
  EXPECT_EQ(make_link(*c, 3, "esc", "a/up/../../outside/secret"), "BAD_PATH");
  EXPECT_EQ(make_link(*c, 4, "a/esc", "up/../../outside/secret"), "BAD_PATH");
  EXPECT_EQ(make_dir(*c, 5, "a/up/d", 0755), "PATH_ESCAPES_ROOT");
  EXPECT_EQ(put_file(*c, 6, "a/up/f", "x"), "PATH_ESCAPES_ROOT");
  EXPECT_EQ(put_file(*c, 7, "a/up/g", "x", 0644, true), "PATH_ESCAPES_ROOT");
  // Climbing first, then descending, is resolved from the real directory.
  EXPECT_EQ(make_link(*c, 8, "a/b/ok", "../../a/up"), "OK");
  const fs::path mine = root_.path() / "alice";
  EXPECT_EQ(fs::read_symlink(mine / "a/up"), "..");
  EXPECT_EQ(fs::read_symlink(mine / "a/b/ok"), "../../a/up");
  // Nothing was made where "a/up" leads (alice's root) nor beside the link.
  for (const char* name : {"esc", "d", "f", "g", "a/esc"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(mine / name))) << name;
  }
  EXPECT_EQ(tree_names(root_.path() / "outside"), std::vector<std::string>{"secret"});

  // Nothing alice stored leads out of her tree, for a local tool either.
  EXPECT_EQ(links_leaving(root_.path(), root_.path() / "alice"), std::vector<std::string>{});
  // And another identity's read of the would-be link finds nothing.
  auto other = connect(admin);
  EXPECT_EQ(get_file(*other, 1, "alice/a/up/esc"), "ERROR:NOT_FOUND");
  EXPECT_EQ(get_file(*other, 2, "alice/esc"), "ERROR:NOT_FOUND");
}

}  // namespace
}  // namespace ft::testing
