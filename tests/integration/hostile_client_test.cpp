// ftget and ftls against an impostor server (tests/tools/ft_fake_server.cpp)
// that lies in its replies: about another name than the one asked for, with
// more or fewer bytes than it declared, absurd sizes and counts, set-id and
// sticky modes, ANSI escapes and bidi overrides in names and messages, and
// for a destination that already holds symbolic links leading out of it.
// Whatever it sends, the clients write only inside their destination, apply
// only the 0777 bits, refuse the absurd with a specific message and exit
// status, and print nothing a terminal would interpret.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/rules/path_rules.hpp"
#include "support/harness.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr int kExitLocal = 3;
constexpr int kExitConnection = 4;
constexpr int kExitServer = 6;
constexpr int kExitChecksum = 7;
constexpr int kExitProtocol = 8;
constexpr int kExitPartial = 9;

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

/// True when `text` holds a character that is invisible yet acts on a
/// terminal or on how text reads: a C1 control (U+0080..U+009F), a bidi
/// mark, embedding, override or isolate, or a zero-width character.
bool has_hidden_control(const std::string& text) {
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const auto a = static_cast<unsigned char>(text[i]);
    const auto b = static_cast<unsigned char>(text[i + 1]);
    if (a == 0xC2 && b >= 0x80 && b <= 0x9F) return true;
    if (i + 2 < text.size() && a == 0xE2) {
      const auto c = static_cast<unsigned char>(text[i + 2]);
      if (b == 0x80 && ((c >= 0x8B && c <= 0x8F) || (c >= 0xAA && c <= 0xAE))) return true;
      if (b == 0x81 && c >= 0xA6 && c <= 0xA9) return true;
    }
  }
  return false;
}

class HostileClientTest : public ::testing::Test {
 protected:
  // Starts the fake server and lays out, beside the destination, a sentinel
  // file and an "outside" directory holding a secret: neither may change.
  void start(const std::string& scenario) {
    std::string error;
    ASSERT_TRUE(server_.start({bin("ft_fake_server"), "--scenario", scenario}, error)) << error;
    write_file(parent_ / "sentinel", "untouched");
    fs::permissions(parent_ / "sentinel", static_cast<fs::perms>(0640));
    fs::create_directory(outside());
    write_file(outside() / "secret", "secret");
    fs::permissions(outside() / "secret", static_cast<fs::perms>(0600));
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    }
  }

  std::string remote(const std::string& path) const {
    return "127.0.0.1:" + std::to_string(server_.port()) + "/" + path;
  }
  fs::path local() const { return parent_ / "local"; }
  fs::path outside() const { return parent_ / "outside"; }

  /// ftget ARGS... without retries (a lie is not worth another connection).
  RunResult ftget(std::vector<std::string> args,
                  std::chrono::seconds deadline = std::chrono::seconds(30)) {
    args.insert(args.begin(), {bin("ftget"), "--retries", "0"});
    return run(args, deadline);
  }
  RunResult ftls(std::vector<std::string> args,
                 std::chrono::seconds deadline = std::chrono::seconds(30)) {
    args.insert(args.begin(), bin("ftls"));
    return run(args, deadline);
  }

  // The sentinel and the outside directory are as they were, and nothing
  // else appeared beside the destination.
  void expect_untouched() {
    EXPECT_EQ(read_file(parent_ / "sentinel"), "untouched");
    EXPECT_EQ(mode_of(parent_ / "sentinel"), 0640u);
    EXPECT_EQ(tree_names(outside()), (std::vector<std::string>{"secret"}));
    EXPECT_EQ(read_file(outside() / "secret"), "secret");
    EXPECT_EQ(mode_of(outside() / "secret"), 0600u);
    for (const auto& name : lexical_tree_names(parent_.path())) {
      EXPECT_TRUE(name == "sentinel" || name == "local" || name.rfind("local/", 0) == 0 ||
                  name == "outside" || name.rfind("outside/", 0) == 0)
          << "written outside the destination: " << name;
    }
  }
  // Nothing the client printed would be interpreted by a terminal.
  static void expect_clean(const RunResult& result) {
    EXPECT_FALSE(has_raw_control(result.out)) << result.out;
    EXPECT_FALSE(has_raw_control(result.err)) << result.err;
    EXPECT_FALSE(has_hidden_control(result.out)) << result.out;
    EXPECT_FALSE(has_hidden_control(result.err)) << result.err;
  }
  // The regular files below the destination, hidden ones included.
  std::vector<std::string> files_in_local() const {
    std::vector<std::string> files;
    if (!fs::exists(local())) return files;
    for (const auto& name : tree_names(local())) {
      if (fs::is_regular_file(fs::symlink_status(local() / name))) files.push_back(name);
    }
    return files;
  }
  // A failed download left nothing: no final file, no partial file.
  void expect_nothing_landed() {
    EXPECT_EQ(files_in_local(), std::vector<std::string>{}) << "a refused download left files";
  }

  TempDir parent_;
  ListeningProcess server_;
};

// --- a reply about another name -------------------------------------------

TEST_F(HostileClientTest, StatAnsweredAboutAnotherNameIsAProtocolError) {
  start("wrongname");
  auto result = ftget({"-r", remote("dir"), local().string()});
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("answered a STAT of \"dir\" about \"other-name\""), std::string::npos)
      << result.err;
  expect_nothing_landed();
  expect_untouched();
  expect_clean(result);
}

TEST_F(HostileClientTest, ErrorAboutAnotherPathIsAProtocolError) {
  start("wrongname");
  auto result = ftget({remote("dir/file.txt"), local().string()});
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("ERROR about \"../../etc/passwd\" in reply to a request for "
                            "\"dir/file.txt\""),
            std::string::npos)
      << result.err;
  expect_nothing_landed();
  expect_untouched();
  expect_clean(result);

  auto tree = ftget({"-r", remote("dir/"), local().string()});
  EXPECT_EQ(tree.exit_code, kExitProtocol) << tree.err;
  expect_nothing_landed();
  expect_untouched();
}

TEST_F(HostileClientTest, LocalOnlyErrorCodeIsAProtocolError) {
  // Code 1002 is LOCAL_FILE: taken at its word it would exit 3 and blame
  // the local disk.
  start("wrongname");
  auto result = ftget({remote("dir/localcode.txt"), local().string()});
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("ERROR with code 1002"), std::string::npos) << result.err;
  expect_nothing_landed();
  expect_untouched();
}

TEST_F(HostileClientTest, FtlsRefusesRepliesAboutAnotherName) {
  start("wrongname");
  // LIST of a file: NOT_A_DIRECTORY, then a STAT answered about "other-name".
  auto stat = ftls({remote("dir/file.txt")});
  EXPECT_EQ(stat.exit_code, kExitProtocol) << stat.err;
  EXPECT_NE(stat.err.find("about \"other-name\""), std::string::npos) << stat.err;
  EXPECT_EQ(stat.out, "");
  auto list = ftls({remote("dir/sub")});
  EXPECT_EQ(list.exit_code, kExitProtocol) << list.err;
  EXPECT_NE(list.err.find("ERROR about \"etc\""), std::string::npos) << list.err;
  expect_clean(stat);
  expect_clean(list);
}

// --- more bytes than declared -----------------------------------------------

TEST_F(HostileClientTest, MoreBytesThanDeclaredAreRefused) {
  start("extra");
  for (const char* name : {"more.txt", "beyond.txt"}) {
    SCOPED_TRACE(name);
    auto result = ftget({remote(std::string("dir/") + name), local().string()});
    EXPECT_EQ(result.exit_code, kExitChecksum) << result.err;
    EXPECT_NE(result.err.find("more data than the declared size"), std::string::npos) << result.err;
    expect_nothing_landed();
    expect_clean(result);
  }
  expect_untouched();
}

TEST_F(HostileClientTest, OverlappingDataIsAProtocolError) {
  start("extra");
  auto result = ftget({remote("dir/overlap.txt"), local().string()});
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("DATA at offset"), std::string::npos) << result.err;
  expect_nothing_landed();
  expect_untouched();
}

TEST_F(HostileClientTest, EndDeclaringAnotherSizeIsRefused) {
  start("extra");
  auto result = ftget({remote("dir/bigend.txt"), local().string()});
  EXPECT_EQ(result.exit_code, kExitChecksum) << result.err;
  EXPECT_NE(result.err.find("size mismatch"), std::string::npos) << result.err;
  expect_nothing_landed();
  expect_untouched();
}

TEST_F(HostileClientTest, OnlyTheHonestFileOfATreeLands) {
  start("extra");
  auto result = ftget({"-r", "--json", remote("dir/"), local().string()});
  EXPECT_EQ(result.exit_code, kExitPartial) << result.err;
  EXPECT_EQ(tree_names(local()), (std::vector<std::string>{"good.txt"}));
  EXPECT_EQ(read_file(local() / "good.txt"), "payload:dir/good.txt");
  auto summary = json_summary(result.out);
  EXPECT_EQ(summary.value("files", 0), 1);
  EXPECT_EQ(summary.value("failed", 0), 4);
  expect_untouched();
  expect_clean(result);
}

// --- fewer bytes than declared ----------------------------------------------

TEST_F(HostileClientTest, FewerBytesThanDeclaredAreRefused) {
  start("short");
  for (const char* name : {"short.txt", "early.txt"}) {
    SCOPED_TRACE(name);
    auto result = ftget({remote(std::string("dir/") + name), local().string()});
    EXPECT_EQ(result.exit_code, kExitChecksum) << result.err;
    EXPECT_NE(result.err.find("size mismatch"), std::string::npos) << result.err;
    expect_nothing_landed();
  }
  auto tree = ftget({"-r", remote("dir/"), local().string()});
  EXPECT_EQ(tree.exit_code, kExitPartial) << tree.err;
  EXPECT_EQ(tree_names(local()), (std::vector<std::string>{"good.txt"}));
  expect_untouched();
}

TEST_F(HostileClientTest, ConnectionCutInsideAFileCommitsNothing) {
  start("short");
  auto result = ftget({remote("dir/cut.txt"), local().string()});
  EXPECT_EQ(result.exit_code, kExitConnection) << result.err;
  EXPECT_FALSE(fs::exists(fs::symlink_status(local() / "cut.txt")));
  // Only the hidden partial file and its record, kept to resume from.
  for (const auto& name : tree_names(local())) {
    EXPECT_EQ(name.rfind(".ft-part", 0), 0u) << name;
  }
  expect_untouched();
}

// --- absurd sizes and counts ------------------------------------------------

TEST_F(HostileClientTest, AbsurdSizeInGetReadyIsRefused) {
  start("absurd");
  for (const char* name : {"huge", "max"}) {
    SCOPED_TRACE(name);
    auto result = ftget({remote(std::string("dir/") + name), local().string()});
    EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
    EXPECT_NE(result.err.find("absurd size"), std::string::npos) << result.err;
    expect_nothing_landed();
  }
  expect_untouched();
}

TEST_F(HostileClientTest, AbsurdSizesAndDuplicatesInAListingAreRefused) {
  start("absurd");
  auto result = ftget({"-r", remote("dir/"), local().string()});
  EXPECT_EQ(result.exit_code, kExitPartial) << result.err;
  EXPECT_NE(result.err.find("huge: the server declared an absurd size of 9223372036854775808"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("ok.txt: the server listed this name twice"), std::string::npos)
      << result.err;
  EXPECT_EQ(tree_names(local()), (std::vector<std::string>{"ok.txt"}));
  EXPECT_EQ(read_file(local() / "ok.txt"), "payload:dir/ok.txt");
  expect_untouched();

  auto list = ftls({"-l", remote("dir")});
  EXPECT_EQ(list.exit_code, kExitProtocol) << list.err;
  EXPECT_NE(list.err.find("absurd size"), std::string::npos) << list.err;
}

TEST_F(HostileClientTest, AbsurdEntryCountIsRefused) {
  start("absurd");
  auto list = ftls({remote("count")});
  EXPECT_EQ(list.exit_code, kExitProtocol) << list.err;
  EXPECT_NE(list.err.find("malformed ENTRIES"), std::string::npos) << list.err;
  EXPECT_EQ(list.out, "");
  auto get = ftget({"-r", remote("count/"), local().string()});
  EXPECT_EQ(get.exit_code, kExitProtocol) << get.err;
  expect_nothing_landed();
  expect_untouched();
}

TEST_F(HostileClientTest, EndlessListingIsCutOff) {
  start("absurd");
  auto list = ftls({remote("endless")}, std::chrono::seconds(90));
  EXPECT_EQ(list.exit_code, kExitProtocol) << list.err;
  EXPECT_NE(list.err.find("listed more than 1000000 entries"), std::string::npos) << list.err;
  // ftls streams what it lists (issue 15): what came before the cut-off was
  // printed, never more than the cap.
  EXPECT_LE(static_cast<std::size_t>(std::count(list.out.begin(), list.out.end(), '\n')),
            std::size_t{1'000'000});
  auto get = ftget({"-r", remote("endless/"), local().string()}, std::chrono::seconds(90));
  EXPECT_EQ(get.exit_code, kExitProtocol) << get.err;
  EXPECT_NE(get.err.find("listed more than 1000000 entries"), std::string::npos) << get.err;
  expect_nothing_landed();
  expect_untouched();
}

// --- set-id and sticky modes ------------------------------------------------

TEST_F(HostileClientTest, SetIdAndStickyBitsAreDropped) {
  start("setuid");
  auto result = ftget({"-r", remote("dir"), local().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(mode_of(local() / "dir"), 0777u);
  EXPECT_EQ(mode_of(local() / "dir/suid"), 0755u);
  EXPECT_EQ(mode_of(local() / "dir/sgid-all"), 0777u);
  EXPECT_EQ(mode_of(local() / "dir/sticky"), 0644u);
  EXPECT_EQ(mode_of(local() / "dir/stickydir"), 0777u);
  EXPECT_EQ(mode_of(local() / "dir/stickydir/inner"), 0755u);

  auto plain = ftget({remote("dir/suid"), (parent_ / "plain").string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(mode_of(parent_ / "plain/suid"), 0755u);
  EXPECT_EQ(read_file(parent_ / "sentinel"), "untouched");
}

// --- escapes in names, link targets and messages ----------------------------

TEST_F(HostileClientTest, EscapesFromTheServerAreShownEscaped) {
  start("ansi");
  auto result = ftget({"-r", "--links", remote("dir"), local().string()});
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, -1) << "killed or timed out";
  expect_clean(result);
  // The ERROR messages arrive, made visible.
  EXPECT_NE(result.err.find("dir/err.txt: \\x1b[2J\\x1b[31mdisk on fire\\x0d"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("dir/sub: \\x1b[2J"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("red\\x1b[31mname"), std::string::npos) << result.err;
  // No name holding a control or a hidden character landed, nor a link
  // whose target holds one.
  for (const auto& name : tree_names(local())) {
    EXPECT_FALSE(has_raw_control(name) || has_hidden_control(name)) << printable(name);
    if (fs::is_symlink(local() / name)) {
      const std::string target = fs::read_symlink(local() / name).string();
      EXPECT_FALSE(has_raw_control(target) || has_hidden_control(target)) << printable(target);
    }
  }
  expect_untouched();

  auto json = ftget({"-r", "--json", remote("dir/"), (parent_ / "local/json").string()});
  EXPECT_NE(json.exit_code, 0) << json.err;
  expect_clean(json);
  auto lines = json_lines(json.out);
  bool saw_escaped_name = false;
  for (const auto& line : lines) {
    if (line.value("path", std::string()).find("red\x1b[31mname") != std::string::npos) {
      saw_escaped_name = true;  // the JSON reader gets the name back as it was
    }
  }
  EXPECT_TRUE(saw_escaped_name) << json.out;
}

TEST_F(HostileClientTest, FtlsShowsEscapesEscaped) {
  start("ansi");
  for (auto options : std::vector<std::vector<std::string>>{
           {}, {"-l"}, {"--json"}, {"-r"}, {"-l", "-r"}, {"--json", "-r"}}) {
    options.push_back(remote("dir"));
    auto result = ftls(options);
    SCOPED_TRACE(options.front());
    EXPECT_NE(result.exit_code, -1) << "killed or timed out";
    expect_clean(result);
    EXPECT_NE(result.out.find("red"), std::string::npos) << result.out;
  }
  auto json = ftls({"--json", remote("dir")});
  bool saw_target = false;
  for (const auto& line : json_lines(json.out)) {
    if (line.value("name", std::string()) == "bidi\xe2\x80\xaegnp.exe") saw_target = true;
  }
  EXPECT_TRUE(saw_target) << "the JSON reader gets the raw name back: " << json.out;
  auto error = ftls({remote("dir/sub")});
  EXPECT_EQ(error.exit_code, 5) << error.err;
  EXPECT_NE(error.err.find("\\x1b[2J\\x1b[31mdisk on fire"), std::string::npos) << error.err;
  expect_clean(error);
}

TEST_F(HostileClientTest, ConnectionErrorMessageIsShownEscaped) {
  start("ansi");
  auto result = ftget({remote("bye"), local().string()});
  EXPECT_EQ(result.exit_code, kExitServer) << result.err;
  EXPECT_NE(result.err.find("\\x1b[2J\\x1b[31mdisk on fire"), std::string::npos) << result.err;
  expect_clean(result);
  expect_nothing_landed();
}

// --- symbolic links already in the destination ------------------------------

TEST_F(HostileClientTest, LinkAtTheFinalNameIsReplacedNotFollowed) {
  start("symlink");
  fs::create_directory(local());
  fs::create_symlink("../outside/secret", local() / "file.txt");
  auto result = ftget({remote("dir/file.txt"), local().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(fs::is_symlink(local() / "file.txt"));
  EXPECT_EQ(read_file(local() / "file.txt"), "payload:dir/file.txt");
  expect_untouched();
}

TEST_F(HostileClientTest, LinkAtAFileNameInATreeIsReplacedNotFollowed) {
  start("symlink");
  fs::create_directories(local() / "sub");
  fs::create_symlink("../outside/secret", local() / "file.txt");
  fs::create_symlink("../../outside/secret", local() / "sub/inner.txt");
  auto result = ftget({"-r", remote("dir/"), local().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_file(local() / "file.txt"), "payload:dir/file.txt");
  EXPECT_EQ(read_file(local() / "sub/inner.txt"), "payload:dir/sub/inner.txt");
  EXPECT_FALSE(fs::is_symlink(local() / "file.txt"));
  EXPECT_FALSE(fs::is_symlink(local() / "sub/inner.txt"));
  expect_untouched();
}

TEST_F(HostileClientTest, LinkedDirectoryInTheDestinationIsNotEntered) {
  start("symlink");
  fs::create_directory(local());
  fs::create_directory_symlink("../outside", local() / "dir");
  auto result = ftget({"-r", remote("dir"), local().string()});
  EXPECT_EQ(result.exit_code, kExitLocal) << result.err;
  EXPECT_NE(result.err.find("is a symbolic link, which is never followed"), std::string::npos)
      << result.err;
  EXPECT_TRUE(fs::is_symlink(local() / "dir"));
  expect_untouched();
  expect_clean(result);
}

TEST_F(HostileClientTest, LinkedSubdirectoryInTheDestinationIsNotEntered) {
  start("symlink");
  fs::create_directory(local());
  fs::create_directory_symlink("../outside", local() / "sub");
  auto result = ftget({"-r", remote("dir/"), local().string()});
  EXPECT_EQ(result.exit_code, kExitPartial) << result.err;
  EXPECT_NE(result.err.find("is a symbolic link, which is never followed"), std::string::npos)
      << result.err;
  EXPECT_EQ(read_file(local() / "file.txt"), "payload:dir/file.txt");
  EXPECT_TRUE(fs::is_symlink(local() / "sub"));
  expect_untouched();
}

TEST_F(HostileClientTest, LinkAtThePartialOrRecordNameIsRefused) {
  start("symlink");
  for (const char* planted : {".ft-part.file.txt", ".ft-part-meta.file.txt"}) {
    SCOPED_TRACE(planted);
    fs::remove_all(local());
    fs::create_directory(local());
    fs::create_symlink("../outside/secret", local() / planted);
    auto result = ftget({remote("dir/file.txt"), local().string()});
    EXPECT_EQ(result.exit_code, kExitLocal) << result.err;
    EXPECT_FALSE(fs::exists(fs::symlink_status(local() / "file.txt")));
    expect_untouched();
    expect_clean(result);
  }
}

TEST_F(HostileClientTest, HardLinkAtTheRecordNameIsReplacedNotWrittenThrough) {
  // Audit, issue 10: O_TRUNC on a planted hard link emptied its target.
  start("symlink");
  fs::create_directory(local());
  const fs::path victim = local().parent_path() / "victim.txt";
  write_file(victim, "keep me");
  fs::create_hard_link(victim, local() / ".ft-part-meta.file.txt");
  auto result = ftget({remote("dir/file.txt"), local().string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_file(local() / "file.txt"), "payload:dir/file.txt");
  EXPECT_EQ(read_file(victim), "keep me") << "the link's target was written through";
}

}  // namespace
}  // namespace ft::testing
