// Keys and the encrypted channel end to end (docs/protocol.md section 10,
// docs/client.md "Keys"): a real ftserve --keys with keys made by
// `ftserve keys add`, the real clients with --key-file / FT_KEY_FILE, and
// ft_test_proxy to watch, record, replay and damage the bytes in between.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitBadSetup = 3;  // ftserve: --root or --keys unusable
constexpr int kExitAuth = 10;

// A client key file's secret, as the hex of its "key" line.
std::string key_hex(const std::string& key_file_text) {
  std::istringstream in(key_file_text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("key ", 0) == 0) return line.substr(4);
  }
  return {};
}

std::string key_identity(const std::string& key_file_text) {
  std::istringstream in(key_file_text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("identity ", 0) == 0) return line.substr(9);
  }
  return {};
}

// The same text with one hex digit of `hex` changed (another valid key).
std::string alter_hex(const std::string& text, const std::string& hex) {
  std::string out = text;
  auto at = out.find(hex);
  if (at == std::string::npos) return out;
  char& digit = out[at + hex.size() - 1];
  digit = digit == '0' ? '1' : '0';
  return out;
}

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsTest : public ServerFixture {
 protected:
  void SetUp() override {
    client_key_ = add_key("alice", "list,read,create,overwrite");
    ASSERT_FALSE(key_hex(client_key_).empty()) << client_key_;
    key_file_ = work_ / "alice.key";
    write_private(key_file_, client_key_);
    start_server({"--keys", keys_file_.string()});
  }
  void TearDown() override {
    ServerFixture::TearDown();
    // The key never shows in a log.
    EXPECT_EQ(server_.err().find(key_hex(client_key_)), std::string::npos) << server_.err();
    for (const std::string& output : outputs_) {
      EXPECT_EQ(output.find(key_hex(client_key_)), std::string::npos) << output;
    }
  }

  // `ftserve keys add NAME --keys FILE --rights RIGHTS`: the client key file.
  std::string add_key(const std::string& name, const std::string& rights,
                      const fs::path& keys_file = {}) {
    const fs::path file = keys_file.empty() ? keys_file_ : keys_file;
    RunResult r =
        run({bin("ftserve"), "keys", "add", name, "--keys", file.string(), "--rights", rights});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find(key_hex(r.out)), std::string::npos) << "the key leaked to stderr";
    return r.out;
  }

  void start_proxy(ListeningProcess& proxy, int port, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {bin("ft_test_proxy"), "--target", loopback_remote(port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string error;
    ASSERT_TRUE(proxy.start(argv, error)) << error;
  }

  // Runs a client and keeps its output for the no-key-in-logs check.
  RunResult client(const std::vector<std::string>& argv) {
    RunResult r = run(argv);
    outputs_.push_back(r.out);
    outputs_.push_back(r.err);
    return r;
  }

  fs::path keys_file_ = work_ / "keys";
  std::string client_key_;
  fs::path key_file_;
  std::vector<std::string> outputs_;
};

TEST_F(TlsTest, RightKeyUploadsDownloadsAndLists) {
  write_random_file(work_ / "data.bin", 5 * 1024 * 1024 + 123, 7);
  write_file(work_ / "small.txt", "hello over TLS\n");
  RunResult sent =
      client({bin("ftsend"), "--key-file", key_file_.string(), (work_ / "data.bin").string(),
              (work_ / "small.txt").string(), remote("in/")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(file_hash(root_ / "in/data.bin"), file_hash(work_ / "data.bin"));
  EXPECT_EQ(read_file(root_ / "in/small.txt"), "hello over TLS\n");

  // FT_KEY_FILE instead of the option.
  const std::string env = "FT_KEY_FILE=" + key_file_.string();
  fs::create_directory(work_ / "back");
  RunResult got =
      client({"/usr/bin/env", env, bin("ftget"), remote("in/data.bin"), (work_ / "back").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "back/data.bin"), file_hash(work_ / "data.bin"));

  RunResult listed = client({"/usr/bin/env", env, bin("ftls"), remote("in")});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, "data.bin\nsmall.txt\n");

  // Trees go through the same channel.
  fs::create_directories(work_ / "tree/a/b");
  write_file(work_ / "tree/a/b/x", "x");
  RunResult tree = client(
      {bin("ftsend"), "-r", "--key-file", key_file_.string(), (work_ / "tree").string(), remote()});
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(read_file(root_ / "tree/a/b/x"), "x");
  ASSERT_TRUE(server_.wait_for_err("authenticated as alice")) << server_.err();
}

TEST_F(TlsTest, WrongKeyIsRefused) {
  const fs::path wrong = work_ / "wrong.key";
  write_private(wrong, alter_hex(client_key_, key_hex(client_key_)));
  write_file(work_ / "f", "content");
  RunResult r =
      client({bin("ftsend"), "--key-file", wrong.string(), (work_ / "f").string(), remote()});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("authentication failed: the server refused the key (wrong key or unknown "
                       "identity)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("retry"), std::string::npos) << "an auth failure is never retried";
  EXPECT_TRUE(tree_names(root_.path()).empty());
  EXPECT_TRUE(server_.wait_for_err("TLS handshake failed")) << server_.err();
}

TEST_F(TlsTest, UnknownIdentityIsRefused) {
  const std::string id = key_identity(client_key_);
  ASSERT_FALSE(id.empty());
  const fs::path stranger = work_ / "stranger.key";
  write_private(stranger, alter_hex(client_key_, id));
  RunResult r = client({bin("ftls"), "--key-file", stranger.string(), remote()});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("the server refused the key"), std::string::npos) << r.err;
  EXPECT_TRUE(server_.wait_for_err("TLS handshake failed")) << server_.err();
}

TEST_F(TlsTest, NoKeyOnTlsServerReportsAuthRequired) {
  write_file(work_ / "f", "content");
  RunResult r = client({bin("ftsend"), (work_ / "f").string(), remote()});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("server requires a key: use --key-file or FT_KEY_FILE (AUTH_REQUIRED)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(tree_names(root_.path()).empty());
  RunResult ls = client({bin("ftls"), remote()});
  EXPECT_EQ(ls.exit_code, kExitAuth) << ls.err;
}

TEST_F(TlsTest, KeyAgainstOpenServerSendsOnlyItsClientHello) {
  TempDir open_root;
  ListeningProcess open_server;
  start_ftserve(open_server, open_root.path());
  ListeningProcess proxy;
  const fs::path recorded = work_ / "upstream.bin";
  start_proxy(proxy, open_server.port(), {"--record", recorded.string()});
  write_random_file(work_ / "f", 64 * 1024, 3);
  RunResult r = client({bin("ftsend"), "--key-file", key_file_.string(), (work_ / "f").string(),
                        loopback_remote(proxy.port())});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("the server did not complete the TLS handshake (does it run with --keys?)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(tree_names(open_root.path()).empty());
  ASSERT_TRUE(proxy.wait_for_err("connection 1: upstream=")) << proxy.err();
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
  EXPECT_EQ(proxy.err().find("connection 2"), std::string::npos) << "retried: " << proxy.err();
  // Exactly one TLS handshake record (the ClientHello), nothing of the file.
  const std::string bytes = read_file(recorded);
  ASSERT_GE(bytes.size(), 5u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x16);
  const std::size_t record =
      5 + ((static_cast<unsigned char>(bytes[3]) << 8) | static_cast<unsigned char>(bytes[4]));
  EXPECT_EQ(bytes.size(), record);
  EXPECT_LT(bytes.size(), 2048u);
  EXPECT_EQ(open_server.stop(SIGTERM), 0) << open_server.err();
}

TEST_F(TlsTest, ReplayedSessionIsRefused) {
  ListeningProcess proxy;
  const fs::path recorded = work_ / "session.bin";
  start_proxy(proxy, server_.port(), {"--record", recorded.string()});
  write_file(work_ / "note.txt", "replay me");
  RunResult r = client({bin("ftsend"), "--key-file", key_file_.string(),
                        (work_ / "note.txt").string(), loopback_remote(proxy.port())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(proxy.wait_for_err("connection 1: upstream=")) << proxy.err();
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
  fs::remove(root_ / "note.txt");
  const std::string session = read_file(recorded);
  ASSERT_GT(session.size(), 200u);

  // The captured bytes, sent again on a new connection: the server's fresh
  // random and share make the old Finished and records worthless.
  RunResult replay =
      run({bin("ft_test_proxy"), "--target", remote(), "--replay", recorded.string()});
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
  EXPECT_NE(replay.out.find(" closed"), std::string::npos) << replay.out;
  EXPECT_TRUE(server_.wait_for_err("TLS handshake failed")) << server_.err();
  EXPECT_TRUE(visible_tree_names(root_.path()).empty());
  EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-").empty());
}

TEST_F(TlsTest, RecordAlteredDownstreamFailsWithoutRetry) {
  write_random_file(root_ / "big.bin", 3 * 1024 * 1024, 11);
  ListeningProcess proxy;
  start_proxy(proxy, server_.port(), {"--flip-downstream", "200000"});
  fs::create_directory(work_ / "dl");
  RunResult r = client({bin("ftget"), "--key-file", key_file_.string(),
                        loopback_remote(proxy.port(), "big.bin"), (work_ / "dl").string()});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("the encrypted connection failed"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "dl/big.bin"));
  ASSERT_TRUE(proxy.wait_for_err("connection 1: upstream=")) << proxy.err();
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
  // The fault hits the first connection only: a retry would have succeeded.
  EXPECT_EQ(proxy.err().find("connection 2"), std::string::npos) << proxy.err();
}

TEST_F(TlsTest, RecordAlteredUpstreamFailsWithoutRetry) {
  write_random_file(work_ / "big.bin", 3 * 1024 * 1024, 12);
  ListeningProcess proxy;
  start_proxy(proxy, server_.port(), {"--flip-upstream", "200000"});
  RunResult r = client({bin("ftsend"), "--key-file", key_file_.string(),
                        (work_ / "big.bin").string(), loopback_remote(proxy.port())});
  EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
  EXPECT_NE(r.err.find("the encrypted connection failed"), std::string::npos) << r.err;
  EXPECT_TRUE(server_.wait_for_err("TLS error: record failed authentication")) << server_.err();
  EXPECT_TRUE(visible_tree_names(root_.path()).empty());
  ASSERT_TRUE(proxy.wait_for_err("connection 1: upstream=")) << proxy.err();
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
  EXPECT_EQ(proxy.err().find("connection 2"), std::string::npos) << proxy.err();
}

TEST_F(TlsTest, ImpostorServerGetsNothing) {
  write_file(work_ / "secret.txt", "for the real server only");
  // Same identity id, another key: the impostor cannot check our binder.
  {
    TempDir impostor_root;
    const fs::path impostor_keys = work_ / "impostor-keys";
    std::string text = read_file(keys_file_);
    write_private(impostor_keys, alter_hex(text, key_hex(client_key_)));
    ListeningProcess impostor;
    start_ftserve(impostor, impostor_root.path(), {"--keys", impostor_keys.string()});
    RunResult r = client({bin("ftsend"), "--key-file", key_file_.string(),
                          (work_ / "secret.txt").string(), loopback_remote(impostor.port())});
    EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
    EXPECT_TRUE(tree_names(impostor_root.path()).empty());
    EXPECT_EQ(impostor.stop(SIGTERM), 0) << impostor.err();
  }
  // An impostor that does not know the identity at all.
  {
    TempDir impostor_root;
    const fs::path impostor_keys = work_ / "other-keys";
    add_key("mallory", "list,read,create", impostor_keys);
    ListeningProcess impostor;
    start_ftserve(impostor, impostor_root.path(), {"--keys", impostor_keys.string()});
    RunResult r = client({bin("ftsend"), "--key-file", key_file_.string(),
                          (work_ / "secret.txt").string(), loopback_remote(impostor.port())});
    EXPECT_EQ(r.exit_code, kExitAuth) << r.err;
    EXPECT_TRUE(tree_names(impostor_root.path()).empty());
    EXPECT_EQ(impostor.stop(SIGTERM), 0) << impostor.err();
  }
}

TEST_F(TlsTest, KeyFilesReadableByOthersAreRefused) {
  const fs::path loose = work_ / "loose.key";
  write_file(loose, client_key_);
  fs::permissions(loose, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                             fs::perms::others_read);
  RunResult r = client({bin("ftls"), "--key-file", loose.string(), remote()});
  EXPECT_EQ(r.exit_code, kExitUsage) << r.err;
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
  RunResult env = client({"/usr/bin/env", "FT_KEY_FILE=" + loose.string(), bin("ftls"), remote()});
  EXPECT_EQ(env.exit_code, kExitUsage) << env.err;

  RunResult missing = client({bin("ftls"), "--key-file", (work_ / "nope").string(), remote()});
  EXPECT_EQ(missing.exit_code, kExitUsage) << missing.err;

  const fs::path loose_keys = work_ / "loose-keys";
  write_file(loose_keys, read_file(keys_file_));
  fs::permissions(loose_keys,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  TempDir other_root;
  RunResult server = run(ftserve_argv(other_root.path(), {"--keys", loose_keys.string()}),
                         std::chrono::seconds(20));
  EXPECT_EQ(server.exit_code, kExitBadSetup) << server.err;
  EXPECT_NE(server.err.find("chmod 600"), std::string::npos) << server.err;
  EXPECT_EQ(server.err.find(key_hex(client_key_)), std::string::npos);
}

TEST_F(TlsTest, ServerFullNoticeIsReportedAndRetried) {
  TempDir full_root;
  ListeningProcess full;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(full, full_root.path(),
                                        {"--keys", keys_file_.string(), "--max-connections", "1"}));
  // The only slot goes to an authenticated connection that then says
  // nothing: one still in its handshake would be dropped for a newcomer.
  RawClient holder(full.port(), keyed(client_key_));
  ASSERT_TRUE(holder.connected());
  ASSERT_TRUE(holder.send_hello());
  ASSERT_TRUE(holder.read_hello());
  RunResult ls =
      client({bin("ftls"), "--key-file", key_file_.string(), loopback_remote(full.port())});
  EXPECT_EQ(ls.exit_code, 6) << ls.err;
  EXPECT_NE(ls.err.find("(SERVER_FULL)"), std::string::npos) << ls.err;
  write_file(work_ / "f", "x");
  RunResult sent = client({bin("ftsend"), "--retries", "1", "--key-file", key_file_.string(),
                           (work_ / "f").string(), loopback_remote(full.port())});
  EXPECT_EQ(sent.exit_code, 6) << sent.err;
  EXPECT_NE(sent.err.find("retry 1/1"), std::string::npos) << sent.err;
  EXPECT_TRUE(tree_names(full_root.path()).empty());
  EXPECT_EQ(full.stop(SIGTERM), 0) << full.err();
}

TEST_F(TlsTest, SilentServerTimesOutTheHandshake) {
  ListeningProcess proxy;  // forwards nothing at all: the handshake hangs
  start_proxy(proxy, server_.port(), {"--stall-after", "0"});
  RunResult r =
      client({bin("ftls"), "--key-file", key_file_.string(), loopback_remote(proxy.port())});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("the TLS handshake did not finish within 10 s"), std::string::npos) << r.err;
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
}

TEST(TlsHelp, ClientsDocumentTheKeyOptionAndStatusTen) {
  for (const char* tool : {"ftsend", "ftget", "ftls"}) {
    RunResult help = run({bin(tool), "--help"});
    EXPECT_EQ(help.exit_code, 0) << tool;
    EXPECT_NE(help.out.find("--key-file"), std::string::npos) << tool << help.out;
    EXPECT_NE(help.out.find("FT_KEY_FILE"), std::string::npos) << tool << help.out;
    EXPECT_NE(help.out.find("  10  authentication failed"), std::string::npos) << tool << help.out;
  }
}

TEST_F(TlsTest, KeyNeverOnACommandLine) {
  const std::string hex = key_hex(client_key_);
  EXPECT_EQ(cmdline_of(server_.pid()).find(hex), std::string::npos);
  // A client held in its handshake by a stalled proxy, to look at it alive.
  ListeningProcess proxy;
  start_proxy(proxy, server_.port(), {"--stall-downstream-after", "0"});
  BackgroundProcess ls;
  ls.start({bin("ftls"), "--key-file", key_file_.string(), loopback_remote(proxy.port())});
  ASSERT_TRUE(proxy.wait_for_line("stalled")) << proxy.err();
  const std::string cmdline = cmdline_of(ls.pid());
  EXPECT_NE(cmdline.find("ftls"), std::string::npos);
  EXPECT_EQ(cmdline.find(hex), std::string::npos);
  proxy.signal(SIGUSR1);
  RunResult r = ls.finish();
  outputs_.push_back(r.out);
  outputs_.push_back(r.err);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
}

TEST_F(TlsTest, ReadsAtMostSixteenKibBeforeTheHandshakeEnds) {
  // A ClientHello that declares 100,000 bytes (OpenSSL would wait for all
  // of it) arrives as full 16 KiB records: the server stops at its
  // pre-authentication budget (16 KiB) and closes, whatever TLS thinks.
  RawClient client(server_.port());
  ASSERT_TRUE(client.connected());
  auto record = [](std::size_t length) {
    Bytes out = {0x16, 0x03, 0x01, static_cast<std::uint8_t>(length >> 8),
                 static_cast<std::uint8_t>(length & 0xff)};
    return out;
  };
  Bytes flood = record(16384);
  const Bytes hello_header = {0x01, 0x01, 0x86, 0xa0};  // ClientHello, 100000 bytes
  flood.insert(flood.end(), hello_header.begin(), hello_header.end());
  flood.resize(5 + 16384, 0x41);
  for (int i = 0; i < 2; ++i) {
    Bytes more = record(16384);
    more.resize(5 + 16384, 0x41);
    flood.insert(flood.end(), more.begin(), more.end());
  }
  client.send_nonblocking(flood);
  auto answer = client.bytes_until_closed(std::chrono::seconds(5));
  ASSERT_TRUE(answer) << "still open after 48 KiB without a handshake";
  EXPECT_TRUE(server_.wait_for_err("bytes without completing the handshake") ||
              server_.wait_for_err("pre-auth limit"))
      << server_.err();
  // And the server still serves a real client at once.
  RunResult ls = run({bin("ftls"), "--key-file", key_file_.string(), remote()});
  outputs_.push_back(ls.err);
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
}

TEST(OpenMode, WarnsAtStartAndInHelp) {
  TempDir root;
  ListeningProcess server;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(server, root.path()));
  // Before any connection: the warning left with the ready line.
  EXPECT_TRUE(server.wait_for_err("OPEN MODE", std::chrono::seconds(2))) << server.err();
  EXPECT_EQ(server.stop(SIGTERM), 0);
  RunResult help = run({bin("ftserve"), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("without --keys ftserve runs OPEN"), std::string::npos) << help.out;
}

TEST(KeysCommand, ConcurrentAddsKeepEveryEntry) {
  // Each `keys add` reads, extends and rewrites the file: without a lock two
  // at once each wrote its own version and one entry was lost.
  TempDir dir;
  const std::string keys = (dir.path() / "keys").string();
  constexpr int kAdders = 8;
  std::vector<std::unique_ptr<BackgroundProcess>> adders;
  for (int i = 0; i < kAdders; ++i) {
    adders.push_back(std::make_unique<BackgroundProcess>());
    adders.back()->start(
        {bin("ftserve"), "keys", "add", "host" + std::to_string(i), "--keys", keys});
  }
  for (auto& adder : adders) {
    RunResult added = adder->finish();
    EXPECT_EQ(added.exit_code, 0) << added.err;
  }
  RunResult listed = run({bin("ftserve"), "keys", "list", "--keys", keys});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (int i = 0; i < kAdders; ++i) {
    EXPECT_NE(listed.out.find("host" + std::to_string(i) + " "), std::string::npos)
        << "entry host" << i << " was lost:\n"
        << listed.out;
  }
}

TEST(KeysCommand, QuotasAreStoredAndListed) {
  TempDir dir;
  const std::string keys = (dir.path() / "keys").string();
  RunResult added = run({bin("ftserve"), "keys", "add", "alice", "--keys", keys, "--subdir",
                         "alice", "--quota-bytes", "1M", "--quota-files", "3"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  ASSERT_EQ(run({bin("ftserve"), "keys", "add", "bob", "--keys", keys}).exit_code, 0);
  // A quota without a sub-directory is a usage error, and nothing is added.
  RunResult whole =
      run({bin("ftserve"), "keys", "add", "carol", "--keys", keys, "--quota-files", "3"});
  EXPECT_EQ(whole.exit_code, 2);
  EXPECT_NE(whole.err.find("need --subdir"), std::string::npos) << whole.err;
  RunResult listed = run({bin("ftserve"), "keys", "list", "--keys", keys});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("QUOTA"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("1048576:3"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("-:-"), std::string::npos) << listed.out;  // bob: none
  EXPECT_EQ(listed.out.find("carol"), std::string::npos) << listed.out;
}

TEST(KeysCommand, KeyFileBehindASymbolicLinkIsRefused) {
  TempDir dir;
  const fs::path keys = dir.path() / "keys";
  ASSERT_EQ(run({bin("ftserve"), "keys", "add", "alice", "--keys", keys.string()}).exit_code, 0);
  fs::create_symlink(keys, dir.path() / "link");
  RunResult served = run({bin("ftserve"), "--root", dir.path().string(), "--listen", "127.0.0.1:0",
                          "--keys", (dir.path() / "link").string()});
  EXPECT_EQ(served.exit_code, 3) << served.err;
  EXPECT_NE(served.err.find("symbolic link"), std::string::npos) << served.err;
}

}  // namespace
}  // namespace ft::testing
