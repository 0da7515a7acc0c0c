// ftget -r against a malicious server (tests/tools/ft_fake_server.cpp):
// whatever names and link targets the server sends, nothing is written
// outside LOCAL_DIR, bad names are refused, good entries still land, and no
// control byte reaches the terminal.
#include <signal.h>

#include "common/base/limits.hpp"
#include "support/harness.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

class HostileServerTest : public ::testing::Test {
 protected:
  void start(const std::string& scenario) {
    std::string error;
    ASSERT_TRUE(server_.start({bin("ft_fake_server"), "--scenario", scenario}, error)) << error;
    // The sentinel beside LOCAL_DIR: it must be the only thing there after.
    write_file(parent_ / "sentinel", "untouched");
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    }
  }
  std::string remote(const std::string& path) const {
    return "127.0.0.1:" + std::to_string(server_.port()) + "/" + path;
  }
  RunResult get(const std::vector<std::string>& options, const std::string& remote_path) {
    std::vector<std::string> argv = {bin("ftget"), "-r", "--retries", "0"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(remote(remote_path));
    argv.push_back(local().string());
    return run(argv, std::chrono::seconds(20));
  }
  fs::path local() const { return parent_ / "local"; }
  // Everything in the parent is the sentinel or inside LOCAL_DIR, and every
  // link inside LOCAL_DIR resolves inside it.
  void expect_contained() {
    EXPECT_EQ(read_file(parent_ / "sentinel"), "untouched");
    for (const auto& name : lexical_tree_names(parent_.path())) {
      EXPECT_TRUE(name == "sentinel" || name == "local" || name.rfind("local/", 0) == 0)
          << "written outside LOCAL_DIR: " << name;
    }
    if (!fs::exists(local())) return;
    const fs::path base = fs::canonical(local());
    for (const auto& name : lexical_tree_names(local())) {
      const fs::path path = local() / name;
      if (!fs::is_symlink(path)) continue;
      const fs::path resolved = fs::weakly_canonical(path);
      const auto rel = resolved.lexically_relative(base).string();
      EXPECT_TRUE(!rel.empty() && rel.rfind("..", 0) != 0)
          << "link " << name << " -> " << fs::read_symlink(path) << " resolves to " << resolved
          << ", outside " << base;
    }
    EXPECT_FALSE(fs::exists("/abs-escape"));
  }

  TempDir parent_;
  ListeningProcess server_;
};

TEST_F(HostileServerTest, HostileNamesNeverLeaveTheDestination) {
  start("hostile");
  // Links go by default now; this test is about names (the next one is
  // about links).
  auto result = get({"--json", "--no-links"}, "dir");
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, -1) << "killed or timed out";
  expect_contained();
  // The good entries still land, named as the client decides.
  EXPECT_EQ(read_file(local() / "dir/good.txt"), "payload:dir/good.txt");
  EXPECT_EQ(read_file(local() / "dir/..."), "payload:dir/...");
  EXPECT_EQ(read_file(local() / "dir/sub/inner.txt"), "payload:dir/sub/inner.txt");
  EXPECT_EQ(
      visible_tree_names(local()),
      (std::vector<std::string>{"dir", "dir/...", "dir/good.txt", "dir/sub", "dir/sub/inner.txt"}));
  EXPECT_EQ(tree_names(local()), visible_tree_names(local())) << "hidden files left or planted";
  EXPECT_FALSE(has_raw_control(result.out)) << result.out;
  EXPECT_FALSE(has_raw_control(result.err)) << result.err;
  EXPECT_GE(json_summary(result.out).value("failed", 0), 1);
}

TEST_F(HostileServerTest, HostileNamesWithTrailingSlashAndLinks) {
  // DIR/ puts the contents straight into LOCAL_DIR: one level closer to the
  // parent for a "../" to reach.
  start("hostile");
  auto result = get({"--links"}, "dir/");
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, -1) << "killed or timed out";
  expect_contained();
  EXPECT_EQ(read_file(local() / "good.txt"), "payload:dir/good.txt");
  EXPECT_EQ(fs::read_symlink(local() / "good-link"), "good.txt");
  EXPECT_FALSE(fs::exists(fs::symlink_status(local() / "evil-link")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(local() / "evil-abs")));
  EXPECT_NE(result.err.find("evil-link"), std::string::npos) << result.err;
  EXPECT_FALSE(has_raw_control(result.out)) << result.out;
  EXPECT_FALSE(has_raw_control(result.err)) << result.err;
}

TEST_F(HostileServerTest, ChainedLinksNeverLeadOutside) {
  // "sub/b" -> ".." and "a" -> "sub/b/.." each look inside the tree when
  // checked on their own; together "a" leads to LOCAL_DIR's parent.
  start("chain");
  auto result = get({"--links"}, "dir/");
  EXPECT_NE(result.exit_code, -1) << "killed or timed out";
  expect_contained();
  EXPECT_FALSE(fs::exists(parent_ / "pwned"));
}

TEST_F(HostileServerTest, EndlessTreeStopsAtTheDepthLimit) {
  start("deep");
  auto result = get({"-q"}, "dir");
  EXPECT_NE(result.exit_code, 0) << "an endless tree cannot be copied whole";
  EXPECT_NE(result.exit_code, -1) << "killed or timed out";
  expect_contained();
  std::size_t deepest = 0;
  for (const auto& name : lexical_tree_names(local())) {
    const fs::path path(name);
    deepest = std::max<std::size_t>(
        deepest, static_cast<std::size_t>(std::distance(path.begin(), path.end())));
  }
  EXPECT_LE(deepest, limits::kMaxPathDepth + 1);
}

TEST_F(HostileServerTest, FtlsEscapesHostileNames) {
  start("hostile");
  auto result = run({bin("ftls"), "-r", remote("dir")});
  EXPECT_FALSE(has_raw_control(result.out)) << result.out;
  EXPECT_FALSE(has_raw_control(result.err)) << result.err;
  auto plain = run({bin("ftls"), remote("dir")});
  EXPECT_FALSE(has_raw_control(plain.out)) << plain.out;
  EXPECT_FALSE(has_raw_control(plain.err)) << plain.err;
}

}  // namespace
}  // namespace ft::testing
