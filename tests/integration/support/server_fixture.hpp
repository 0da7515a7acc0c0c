#pragma once
// How the integration tests start a real ftserve: its command line (the
// standard arguments, a root and 127.0.0.1 port 0, plus the flags a test
// adds), a helper that starts it as a ListeningProcess (ready line, its
// deadline and the early-exit check are the harness's), and the GoogleTest
// fixtures over a fresh temporary root: ServerFixture, which each test
// starts with its own flags, and ServerTest, started with none.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/crypto/tls_engine.hpp"
#include "harness.hpp"

namespace ft::testing {

/// ftserve's command line: the standard arguments (`--root ROOT --listen
/// 127.0.0.1:PORT`, PORT 0 for any free port, and `--drain-timeout 0` unless
/// `extra` gives one: a test's SIGTERM cuts transfers at once, as SIGINT
/// does; the drain has tests of its own) followed by `extra` flags.
inline std::vector<std::string> ftserve_argv(const fs::path& root,
                                             const std::vector<std::string>& extra = {},
                                             int port = 0) {
  std::vector<std::string> argv = {bin("ftserve"), "--root", root.string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port)};
  if (std::find(extra.begin(), extra.end(), "--drain-timeout") == extra.end()) {
    argv.insert(argv.end(), {"--drain-timeout", "0"});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

/// "127.0.0.1:PORT", then "/path" when `path` is not empty: a client's
/// remote argument for a program listening on loopback.
inline std::string loopback_remote(int port, const std::string& path = "") {
  return "127.0.0.1:" + std::to_string(port) + (path.empty() ? "" : "/" + path);
}

/// Starts `server` as ftserve_argv(root, extra, port) and waits for its
/// ready line; a fatal failure saying why when it exits or never gets ready.
inline void start_ftserve(ListeningProcess& server, const fs::path& root,
                          const std::vector<std::string>& extra = {}, int port = 0) {
  std::string error;
  ASSERT_TRUE(server.start(ftserve_argv(root, extra, port), error)) << error;
}

/// A real ftserve over a fresh temporary root, started by each test with
/// the flags it needs (start_server), and a scratch directory. A server
/// still running after the test is stopped with SIGTERM and must exit 0.
class ServerFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_.pid() > 0) {
      int status = server_.stop(SIGTERM);
      EXPECT_EQ(status, 0) << server_.err();
    }
  }
  /// Starts ftserve over root_ with `extra` flags after the standard ones;
  /// `wrapper` is a program that runs it ({"/usr/bin/prlimit", "--nofile=64:64"}),
  /// empty for none.
  void start_server(const std::vector<std::string>& extra = {},
                    const std::vector<std::string>& wrapper = {}) {
    std::vector<std::string> argv = wrapper;
    for (std::string& arg : ftserve_argv(root_.path(), extra)) argv.push_back(std::move(arg));
    std::string error;
    ASSERT_TRUE(server_.start(argv, error)) << error;
  }
  /// "127.0.0.1:PORT/path" for the running server.
  std::string remote(const std::string& path = "") const {
    return loopback_remote(server_.port(), path);
  }
  /// Names under the root, to prove no temporary or stray file is left.
  std::vector<std::string> root_names() const { return tree_names(root_.path()); }

  TempDir root_;
  TempDir work_;
  ListeningProcess server_;
};

/// A client key for a server started with --keys: `ftserve keys add NAME
/// --keys KEYS --rights RIGHTS` (the keys file is created if missing), and
/// the client's TLS context from the key it printed. A fatal failure if the
/// command or the key fails.
inline void add_identity(const fs::path& keys, const std::string& name, const std::string& rights,
                         std::shared_ptr<TlsContext>& context) {
  RunResult added =
      run({bin("ftserve"), "keys", "add", name, "--keys", keys.string(), "--rights", rights});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::string why;
  std::optional<PskKey> key = parse_client_key(added.out, why);
  ASSERT_TRUE(key) << why;
  context = TlsContext::client(*key, why);
  ASSERT_TRUE(context) << why;
}

/// How a test suite that runs against both kinds of server is started.
enum class ServerMode { kOpen, kKeys };
inline std::string mode_name(const ::testing::TestParamInfo<ServerMode>& info) {
  return info.param == ServerMode::kOpen ? "Open" : "Keys";
}

/// ServerFixture started before each test in the parameter's mode: open, or
/// with --keys and one identity that may list, read, create and overwrite
/// (its client context in tls_). client_options() connects a RawClient as
/// that identity.
class EitherServerTest : public ServerFixture, public ::testing::WithParamInterface<ServerMode> {
 protected:
  void SetUp() override {
    if (GetParam() == ServerMode::kOpen) return start_server();
    const fs::path keys = work_.path() / "keys";
    ASSERT_NO_FATAL_FAILURE(add_identity(keys, "tester", "list,read,create,overwrite", tls_));
    start_server({"--keys", keys.string()});
  }

  std::shared_ptr<TlsContext> tls_;
};

/// ServerFixture with the server started, without extra flags, before each test.
class ServerTest : public ServerFixture {
 protected:
  void SetUp() override { start_server(); }
};

}  // namespace ft::testing
