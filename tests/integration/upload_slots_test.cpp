// --max-uploads-per-identity (issue 17, "also seen"): in open mode all
// anonymous clients used to share one budget, so with the defaults 15 to
// 25 of 50 concurrent ftsend runs failed with TOO_MANY_UPLOADS. Open mode
// now counts each connection alone; with keys an identity's connections
// still share its budget.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "common/rules/errors.hpp"
#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::int64_t kMtime = 1700000000000000000;

std::string outcome(const std::optional<Frame>& frame) {
  if (!frame) return "NO_REPLY";
  if (frame->header.type == FrameType::kPutReady) return "PUT_READY";
  if (frame->header.type != FrameType::kError) return "OTHER";
  auto error = decode_error(frame->payload);
  return error ? to_string(static_cast<ErrorCode>(error->code)) : "MALFORMED_ERROR";
}

class UploadSlotsTest : public ServerFixture {
 protected:
  /// `ftserve keys add NAME`: the client key file's text.
  std::string add_key(const std::string& name) {
    RunResult r = run({bin("ftserve"), "keys", "add", name, "--keys", keys_.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  std::unique_ptr<RawClient> connect_as(const std::string& key_text) {
    auto client = std::make_unique<RawClient>(server_.port(), keyed(key_text));
    EXPECT_TRUE(client->connected());
    EXPECT_TRUE(client->send_hello(0));
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  static std::string put(RawClient& client, std::uint32_t id, const std::string& path) {
    Bytes out;
    encode_put(out, id, PutMsg{path, 10, 0644, kMtime, limits::kDefaultChunkSize, 0, ""});
    client.send(out);
    return outcome(client.read_frame());
  }

  fs::path keys_ = work_ / "keys";
};

TEST_F(UploadSlotsTest, WithKeysAnIdentitysConnectionsShareOneBudget) {
  const std::string alice = add_key("alice");
  const std::string bob = add_key("bob");
  ASSERT_NO_FATAL_FAILURE(
      start_server({"--keys", keys_.string(), "--max-uploads-per-identity", "2"}));
  auto first = connect_as(alice);
  auto second = connect_as(alice);
  EXPECT_EQ(put(*first, 1, "a"), "PUT_READY");
  EXPECT_EQ(put(*second, 1, "b"), "PUT_READY");
  EXPECT_EQ(put(*first, 2, "c"), "TOO_MANY_UPLOADS");
  EXPECT_EQ(put(*second, 2, "d"), "TOO_MANY_UPLOADS");
  // Another identity has its own.
  auto other = connect_as(bob);
  EXPECT_EQ(put(*other, 1, "e"), "PUT_READY");
  EXPECT_EQ(put(*other, 2, "f"), "PUT_READY");
}

TEST_F(UploadSlotsTest, FtsendWaitsForASlotWhenTheBudgetIsSpent) {
  // ftsend pipelines every file at once; the server takes two. Each refused
  // upload is sent again as one of ours ends, on the same connection.
  ASSERT_NO_FATAL_FAILURE(start_server({"--max-uploads-per-identity", "2"}));
  std::vector<std::string> argv{bin("ftsend")};
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "f" + std::to_string(i);
    if (i % 3 == 0) {
      write_random_file(work_ / name, 2 * 1024 * 1024 + 5, i);  // resumable
    } else {
      write_file(work_ / name, "small " + name + "\n");  // eager
    }
    argv.push_back((work_ / name).string());
    names.push_back(name);
  }
  argv.push_back(remote("in"));
  RunResult result = run(argv);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  for (const std::string& name : names) {
    EXPECT_EQ(file_hash(root_.path() / "in" / name), file_hash(work_ / name)) << name;
  }
  EXPECT_EQ(server_.stop(SIGTERM), 0);
  EXPECT_NE(server_.err().find("result=TOO_MANY_UPLOADS"), std::string::npos)
      << "the budget was never spent: " << server_.err();
}

TEST_F(UploadSlotsTest, FiftyConcurrentClientsWithTheDefaultsAllSucceed) {
  // Its 10,000 log lines would fill the stderr pipe nobody reads meanwhile.
  ASSERT_NO_FATAL_FAILURE(start_server({}, {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>/dev/null"}));
  // 200 small files each, all in flight at once: 10,000 uploads in all,
  // well over the default budget of 4096 that open mode used to share.
  constexpr int kClients = 50;
  constexpr int kFiles = 200;
  std::vector<std::string> files;
  for (int i = 0; i < kFiles; ++i) {
    const fs::path file = work_ / ("f" + std::to_string(i));
    write_file(file, "file " + std::to_string(i) + "\n");
    files.push_back(file.string());
  }
  std::vector<std::unique_ptr<BackgroundProcess>> clients;
  for (int c = 0; c < kClients; ++c) {
    std::vector<std::string> argv{bin("ftsend"), "-q"};
    argv.insert(argv.end(), files.begin(), files.end());
    argv.push_back(remote("c" + std::to_string(c)));
    clients.push_back(std::make_unique<BackgroundProcess>());
    clients.back()->start(argv);
  }
  for (int c = 0; c < kClients; ++c) {
    RunResult result = clients[c]->finish(std::chrono::seconds(240));
    EXPECT_EQ(result.exit_code, 0) << "client " << c << ": " << result.err;
    if (result.exit_code != 0) continue;
    std::size_t landed = 0;
    for (int i = 0; i < kFiles; ++i) {
      landed += fs::exists(root_.path() / ("c" + std::to_string(c)) / ("f" + std::to_string(i)));
    }
    EXPECT_EQ(landed, static_cast<std::size_t>(kFiles)) << "client " << c;
  }
}

}  // namespace
}  // namespace ft::testing
