// ftserve closes its event loop cleanly (libuv's uv_loop_close returns 0,
// so no handle leaked) after real traffic, after TLS sessions and with
// connections still open when SIGTERM arrives. A leaked handle makes
// ftserve name it on stderr and exit 1 (server/cli/main.cpp, close_loop).
#include <gtest/gtest.h>
#include <signal.h>

#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

class CleanExitTest : public ServerFixture {
 protected:
  // Each test stops the server itself (expect_clean_stop); one that a failed
  // assertion left running is killed by ListeningProcess's destructor.
  void TearDown() override {}
  // SIGTERM, then: exit 0 and no word of a handle left open.
  void expect_clean_stop() {
    const int status = server_.stop(SIGTERM);
    EXPECT_EQ(status, 0) << server_.err();
    EXPECT_EQ(server_.err().find("handle still open"), std::string::npos) << server_.err();
    EXPECT_EQ(server_.err().find("did not close"), std::string::npos) << server_.err();
  }
};

TEST_F(CleanExitTest, AfterUploadsDownloadsAndListings) {
  start_server();
  write_file(work_ / "data.bin", std::string(3 * 1024 * 1024 + 17, 'x'));
  RunResult up = run({bin("ftsend"), "-q", (work_ / "data.bin").string(), remote("up/")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  fs::create_directory(work_ / "down");
  RunResult down = run({bin("ftget"), "-q", remote("up/data.bin"), (work_ / "down").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(read_file(work_ / "down" / "data.bin"), read_file(work_ / "data.bin"));
  RunResult list = run({bin("ftls"), remote("up")});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  expect_clean_stop();
}

TEST_F(CleanExitTest, WithConnectionsOpenAtSigterm) {
  start_server();
  // Idle, mid-handshake and mid-frame connections are all still open when
  // the signal comes: each must be closed, not leaked.
  RawClient idle(server_.port()), half_hello(server_.port()), half_frame(server_.port());
  ASSERT_TRUE(idle.connected() && half_hello.connected() && half_frame.connected());
  half_hello.send(Bytes{0x89, 'F', 'T'});
  half_frame.send_hello();
  ASSERT_TRUE(half_frame.read_hello());
  half_frame.send(Bytes{0x10, 0x00, 0x00});
  expect_clean_stop();
}

// The same with SIGTERM's drain (docs/server.md "Signals"): no request is
// in flight, so every connection is closed at once and ftserve exits 0
// without waiting for --drain-timeout, its drain timer closed too.
TEST_F(CleanExitTest, WithConnectionsOpenAtSigtermWhileDraining) {
  start_server({"--drain-timeout", "60s"});
  RawClient idle(server_.port()), half_hello(server_.port()), half_frame(server_.port());
  ASSERT_TRUE(idle.connected() && half_hello.connected() && half_frame.connected());
  half_hello.send(Bytes{0x89, 'F', 'T'});
  half_frame.send_hello();
  ASSERT_TRUE(half_frame.read_hello());
  half_frame.send(Bytes{0x10, 0x00, 0x00});
  const auto started = std::chrono::steady_clock::now();
  expect_clean_stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_NE(server_.err().find("SIGTERM received, draining 3 connection(s)"), std::string::npos)
      << server_.err();
}

TEST_F(CleanExitTest, AfterTlsSessions) {
  const fs::path keys = work_ / "keys";
  RunResult key = run({bin("ftserve"), "keys", "add", "alice", "--keys", keys.string(), "--rights",
                       "list,read,create,overwrite"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  const fs::path key_file = work_ / "alice.key";
  write_private(key_file, key.out);
  start_server({"--keys", keys.string()});
  write_file(work_ / "data.bin", std::string(200 * 1024, 'y'));
  RunResult up = run({bin("ftsend"), "-q", "--key-file", key_file.string(),
                      (work_ / "data.bin").string(), remote("up/")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  // A plaintext client refused by the TLS server, and one left open.
  RunResult plain = run({bin("ftls"), remote("up")});
  EXPECT_NE(plain.exit_code, 0);
  RawClient open(server_.port());
  ASSERT_TRUE(open.connected());
  expect_clean_stop();
}

}  // namespace
}  // namespace ft::testing
