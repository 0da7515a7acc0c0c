// ftserve --config FILE (docs/server.md "Configuration file") and --listen
// with host names: every option is a setting, the command line wins, and a
// bad file or address is a usage error (2) naming FILE:LINE.
#include <regex>
#include <set>
#include <sstream>

#include "common/rules/errors.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kUsage = static_cast<int>(Exit::kUsage);
constexpr int kRemoteRefused = static_cast<int>(Exit::kRemoteRefused);

class ServerConfigTest : public ::testing::Test {
 protected:
  fs::path config(const std::string& text) {
    const fs::path path = work_ / "ftserve.conf";
    write_file(path, text);
    return path;
  }
  std::string root_line() const { return "root = " + root_.path().string() + "\n"; }

  TempDir root_;
  TempDir work_;
};

TEST_F(ServerConfigTest, FileSetsOptionsAndTheCommandLineWins) {
  const fs::path file = config("# ftserve settings\n" + root_line() +
                               "listen = 127.0.0.1:0\n"
                               "read_only = true   # underscores read as dashes\n"
                               "max-connections = 8\n"
                               "partial-ttl = 1d\n");
  ListeningProcess server;
  std::string error;
  ASSERT_TRUE(server.start({bin("ftserve"), "--config", file.string()}, error)) << error;
  write_file(work_ / "a.txt", "data");
  RunResult refused =
      run({bin("ftsend"), (work_ / "a.txt").string(), loopback_remote(server.port())});
  EXPECT_EQ(refused.exit_code, kRemoteRefused) << refused.err;  // read-only from the file
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.err();

  // The same file, with a switch and the address overridden on the command line.
  TempDir other_root;
  ListeningProcess writable;
  ASSERT_TRUE(writable.start({bin("ftserve"), "--config", file.string(), "--read-only=false",
                              "--root", other_root.path().string(), "--listen", "127.0.0.1:0"},
                             error))
      << error;
  RunResult sent =
      run({bin("ftsend"), (work_ / "a.txt").string(), loopback_remote(writable.port())});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(other_root / "a.txt"), "data");
  EXPECT_TRUE(tree_names(root_.path()).empty());
  EXPECT_EQ(writable.stop(SIGTERM), 0) << writable.err();
}

TEST_F(ServerConfigTest, BadFilesNameTheLineAndExitTwo) {
  struct Case {
    std::string text;
    std::string expected;  // after "FILE:"
  };
  const std::vector<Case> cases = {
      {root_line() + "bogus = 1\n", "2: unknown setting 'bogus'"},
      {root_line() + "\nread-only = maybe\n", "3: 'read-only' is a switch"},
      {root_line() + "listen = 127.0.0.1:0\nlisten = 127.0.0.1:1\n",
       "3: 'listen' is already set on line 2"},
      {root_line() + "[server]\n", "2: ftserve's file has no sections"},
      {root_line() + "root\n", "2: expected 'key = value'"},
      {root_line() + "umask = \"022\n", "2: missing closing \""},
      {root_line() + "listen =\n", "2: no value for 'listen'"},
      {root_line() + "config = other.conf\n", "2: unknown setting 'config'"},
      // Values checked after parsing are located too.
      {root_line() + "max-connections = 0\n", "2: --max-connections"},
      {root_line() + "partial-ttl = 3x\n", "2: --partial-ttl 3x: expected a duration"},
      {root_line() + "umask = 999\n", "2: --umask 999"},
      {root_line() + "listen = nosuch.invalid:7070\n",
       "2: --listen nosuch.invalid:7070: cannot resolve"},
      {root_line() + "max-file-size = lots\n", "2: "},
  };
  for (const Case& c : cases) {
    const fs::path file = config(c.text);
    RunResult r = run({bin("ftserve"), "--config", file.string()}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, kUsage) << c.text << r.err;
    EXPECT_NE(r.err.find(file.string() + ":" + c.expected), std::string::npos)
        << c.text << "\n-> " << r.err;
    EXPECT_EQ(r.out.find("listening on"), std::string::npos) << c.text;
  }
  RunResult missing = run({bin("ftserve"), "--config", (work_ / "none.conf").string()});
  EXPECT_EQ(missing.exit_code, kUsage);
  EXPECT_NE(missing.err.find("--config " + (work_ / "none.conf").string()), std::string::npos)
      << missing.err;
}

// Every long option of ftserve (as --help lists them) is a known setting:
// a file setting it to nonsense fails for its value, never as unknown.
TEST_F(ServerConfigTest, EveryOptionIsASetting) {
  RunResult help = run({bin("ftserve"), "--help"});
  ASSERT_EQ(help.exit_code, 0);
  std::set<std::string> options;
  const std::regex option(R"((^|[ ,])--([a-z][a-z0-9-]+))");
  for (std::sregex_iterator it(help.out.begin(), help.out.end(), option), end; it != end; ++it) {
    options.insert((*it)[2]);
  }
  for (const char* not_settings : {"help", "version", "config"}) options.erase(not_settings);
  ASSERT_GE(options.size(), 15u) << help.out;
  for (const std::string& name : options) {
    const fs::path file = config("root = /nonexistent/ft\n" + name + " = @nonsense@\n");
    RunResult r = run({bin("ftserve"), "--config", file.string()}, std::chrono::seconds(20));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_EQ(r.err.find("unknown setting"), std::string::npos) << name << ": " << r.err;
  }
}

// The example shipped as /etc/ft/ftserve.conf is read as it is, and with
// every commented setting switched on.
TEST_F(ServerConfigTest, ShippedExampleIsAccepted) {
  const std::string example = read_file(fs::path(FT_SOURCE_DIR) / "dist/config/ftserve.conf");
  std::string all_on;
  std::istringstream lines(example);
  for (std::string line; std::getline(lines, line);) {
    // "#listen = ..." is a setting switched off; "# Where ..." is prose.
    if (line.size() > 1 && line[0] == '#' && line[1] != ' ' &&
        line.find(" = ") != std::string::npos) {
      line.erase(0, 1);
    }
    all_on += line + "\n";
  }
  ASSERT_NE(all_on, example);
  const fs::path keys = work_ / "keys";
  ASSERT_EQ(run({bin("ftserve"), "keys", "add", "laptop", "--keys", keys.string()}).exit_code, 0);
  for (const std::string& text : {example, all_on}) {
    const fs::path file = config(text);
    ListeningProcess server;
    std::string error;
    ASSERT_TRUE(
        server.start({bin("ftserve"), "--config", file.string(), "--root", root_.path().string(),
                      "--keys", keys.string(), "--listen", "127.0.0.1:0"},
                     error))
        << error << text;
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.err();
  }
}

TEST(ListenAddress, HostNamesAreResolved) {
  TempDir root;
  write_file(root / "f", "x");
  ListeningProcess server;
  std::string error;
  ASSERT_TRUE(server.start(
      {bin("ftserve"), "--root", root.path().string(), "--listen", "localhost:0"}, error))
      << error;
  // localhost is a loopback address, of either family.
  EXPECT_TRUE(server.address().starts_with("127.") || server.address().starts_with("[::1]"))
      << server.address();
  RunResult ls = run({bin("ftls"), "localhost:" + std::to_string(server.port())});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "f\n");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.err();
}

TEST(ListenAddress, BadAddressesAreUsageErrors) {
  TempDir root;
  for (const char* bad : {"nosuch.invalid:7070", "127.0.0.1:x", "127.0.0.1:70000", "::1:7070",
                          "127.0.0.1:0/dir", ":7070"}) {
    RunResult r = run({bin("ftserve"), "--root", root.path().string(), "--listen", bad});
    EXPECT_EQ(r.exit_code, kUsage) << bad << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("--listen ") + bad), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ft::testing
