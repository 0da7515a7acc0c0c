// Per-identity quotas (issue 10, requirement 4): `keys add --quota-bytes /
// --quota-files`, usage of the identity's sub-directory measured at its
// first connection, and an upload over either limit refused with
// QUOTA_EXCEEDED (exit 6) before anything is written.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/rules/errors.hpp"
#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

class QuotaTest : public ServerFixture {
 protected:
  /// `ftserve keys add alice --subdir alice` with `quota` flags; the path of
  /// its client key file.
  fs::path add_alice(const std::vector<std::string>& quota) {
    std::vector<std::string> argv{
        bin("ftserve"), "keys",     "add",   "alice",    "--keys",
        keys_,          "--subdir", "alice", "--rights", "list,read,create,overwrite"};
    argv.insert(argv.end(), quota.begin(), quota.end());
    RunResult added = run(argv);
    EXPECT_EQ(added.exit_code, 0) << added.err;
    const fs::path key = work_ / "alice.key";
    write_private(key, added.out);
    std::string why;
    std::optional<PskKey> psk = parse_client_key(added.out, why);
    EXPECT_TRUE(psk) << why;
    if (psk) alice_ = TlsContext::client(*psk, why);
    return key;
  }
  /// A raw connection as alice that may resume.
  std::unique_ptr<RawClient> connect() {
    RawClientOptions options;
    options.tls = alice_;
    auto client = std::make_unique<RawClient>(server_.port(), options);
    EXPECT_TRUE(client->connected());
    EXPECT_TRUE(client->send_hello(kCapResume));
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  /// A PUT declaring `size` bytes (resumable or not): PUT_READY or the
  /// error's name.
  static std::string put(RawClient& client, std::uint32_t id, const std::string& path,
                         std::uint64_t size, bool resumable) {
    Bytes out;
    encode_put(out, id,
               PutMsg{path, size, 0644, 1700000000000000000, limits::kDefaultChunkSize,
                      resumable ? kPutResumable : 0u, resumable ? "source-" + path : ""});
    client.send(out);
    return reply_name(client.read_frame());
  }
  /// alice's partial files.
  std::size_t partials() const { return files_with_prefix(root_ / "alice", ".ft-part-").size(); }
  /// Waits (up to 10 s) until alice keeps `count` partial files.
  bool partials_settle_at(std::size_t count) const {
    for (int i = 0; i < 100 && partials() != count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return partials() == count;
  }
  RunResult send(const fs::path& key, const fs::path& file) {
    return run({bin("ftsend"), "-q", "--key-file", key.string(), file.string(), remote()});
  }
  /// Nothing of a refused upload: no final name, no partial or temporary file.
  void expect_nothing_of(const std::string& name) {
    EXPECT_FALSE(fs::exists(root_ / "alice" / name));
    EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-part-").empty());
    EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-tmp-").empty());
  }

  std::string keys_ = (work_ / "keys").string();
  std::shared_ptr<TlsContext> alice_;
};

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST_F(QuotaTest, BytesOverTheQuotaAreRefusedWithNothingWritten) {
  const fs::path key = add_alice({"--quota-bytes", "100K"});
  // Already there before the server starts: found by the walk.
  fs::create_directories(root_ / "alice");
  write_random_file(root_ / "alice" / "old", 40000, 1);
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_}));
  TempDir local;
  write_random_file(local / "big", 70000, 2);  // 40000 + 70000 > 102400
  RunResult big = send(key, local / "big");
  EXPECT_EQ(big.exit_code, static_cast<int>(Exit::kServerError)) << big.err;
  EXPECT_NE(big.err.find("QUOTA_EXCEEDED"), std::string::npos) << big.err;
  EXPECT_NE(big.err.find("102400 bytes"), std::string::npos) << big.err;
  expect_nothing_of("big");
  write_random_file(local / "fits", 50000, 3);  // 90000
  RunResult fits = send(key, local / "fits");
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_EQ(file_hash(root_ / "alice" / "fits"), file_hash(local / "fits"));
  // The committed upload counts from now on.
  write_random_file(local / "more", 20000, 4);  // 110000
  RunResult more = send(key, local / "more");
  EXPECT_EQ(more.exit_code, static_cast<int>(Exit::kServerError)) << more.err;
  EXPECT_NE(more.err.find("QUOTA_EXCEEDED"), std::string::npos) << more.err;
  expect_nothing_of("more");
}

// A stream from a pipe (ftsend -) declares no size: the quota is checked
// as its bytes arrive and again at END with what it turned out to be.
TEST_F(QuotaTest, StreamsAreCountedByWhatTheyTurnOutToBe) {
  const fs::path key = add_alice({"--quota-bytes", "100K"});
  fs::create_directories(root_ / "alice");
  write_random_file(root_ / "alice" / "old", 40000, 1);
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_}));
  TempDir local;
  write_random_file(local / "src", 200000, 5);
  auto stream = [&](std::uint64_t bytes, const std::string& name) {
    return run({"/bin/bash", "-c",
                "set -o pipefail; head -c " + std::to_string(bytes) + " '" +
                    (local / "src").string() + "' | '" + bin("ftsend") + "' -q --key-file '" +
                    key.string() + "' - '" + remote(name) + "'"});
  };
  // Alone past the quota: refused while it streams.
  RunResult huge = stream(150000, "huge");
  EXPECT_EQ(huge.exit_code, static_cast<int>(Exit::kServerError)) << huge.err;
  EXPECT_NE(huge.err.find("QUOTA_EXCEEDED"), std::string::npos) << huge.err;
  expect_nothing_of("huge");
  // Past it only with what is already there: refused at END.
  RunResult over = stream(70000, "over");
  EXPECT_EQ(over.exit_code, static_cast<int>(Exit::kServerError)) << over.err;
  EXPECT_NE(over.err.find("QUOTA_EXCEEDED"), std::string::npos) << over.err;
  expect_nothing_of("over");
  RunResult fits = stream(50000, "fits");
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_EQ(fs::file_size(root_ / "alice" / "fits"), 50000u);
  // And it counts from now on.
  RunResult more = stream(20000, "more");
  EXPECT_EQ(more.exit_code, static_cast<int>(Exit::kServerError)) << more.err;
  expect_nothing_of("more");
}

TEST_F(QuotaTest, FilesOverTheQuotaAreRefusedWithNothingWritten) {
  const fs::path key = add_alice({"--quota-files", "3"});
  fs::create_directories(root_ / "alice" / "deep");
  write_file(root_ / "alice" / "deep" / "old", "old");
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_}));
  TempDir local;
  for (const char* name : {"a", "b", "c"}) write_file(local / name, name);
  EXPECT_EQ(send(key, local / "a").exit_code, 0);
  EXPECT_EQ(send(key, local / "b").exit_code, 0);
  RunResult third = send(key, local / "c");  // old, a, b: 3 files already
  EXPECT_EQ(third.exit_code, static_cast<int>(Exit::kServerError)) << third.err;
  EXPECT_NE(third.err.find("QUOTA_EXCEEDED"), std::string::npos) << third.err;
  EXPECT_NE(third.err.find("3 files"), std::string::npos) << third.err;
  expect_nothing_of("c");
  EXPECT_EQ(read_file(root_ / "alice" / "a"), "a");
}

// An overwrite counts the change of size, not the new file on top of the
// old one: the count used to grow by 1 MiB and a file per upload until the
// next start.
TEST_F(QuotaTest, OverwritesCountOnlyTheChangeOfSize) {
  const fs::path key = add_alice({"--quota-bytes", "5M", "--quota-files", "2"});
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_}));
  TempDir local;
  for (int i = 0; i < 10; ++i) {
    write_random_file(local / "same", kMiB, 10 + i);
    RunResult sent = send(key, local / "same");
    ASSERT_EQ(sent.exit_code, 0) << "overwrite " << i << ": " << sent.err;
    EXPECT_EQ(file_hash(root_ / "alice" / "same"), file_hash(local / "same"));
  }
  // 1 MiB is used: 4.5 MiB more does not fit, 3.5 MiB does (the second file).
  write_random_file(local / "large", 4 * kMiB + kMiB / 2, 30);
  RunResult large = send(key, local / "large");
  EXPECT_EQ(large.exit_code, static_cast<int>(Exit::kServerError)) << large.err;
  EXPECT_NE(large.err.find("QUOTA_EXCEEDED"), std::string::npos) << large.err;
  write_random_file(local / "fits", 3 * kMiB + kMiB / 2, 31);
  RunResult fits = send(key, local / "fits");
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
}

// Partial files kept before a restart count as the server that kept them
// counted them: at their declared size against the byte quota, and against
// the cap on kept partial files. They used to count at their size on disk
// and not at all against the cap.
TEST_F(QuotaTest, PartialFilesKeptBeforeARestartStillCount) {
  add_alice({"--quota-bytes", "10M"});
  const std::vector<std::string> flags{"--keys", keys_, "--max-partials-per-identity", "2"};
  ASSERT_NO_FATAL_FAILURE(start_server(flags));
  {
    auto client = connect();
    ASSERT_EQ(put(*client, 1, "a", 8 * kMiB, true), "PUT_READY");
    const std::string chunk(limits::kDefaultChunkSize, 'a');
    Bytes out;
    encode_data(out, 1, 0, span_of(chunk));
    ASSERT_TRUE(client->send(out));
    ASSERT_EQ(put(*client, 2, "b", 1000, true), "PUT_READY");
  }  // cut: both partial files are kept
  ASSERT_TRUE(partials_settle_at(2));
  ASSERT_EQ(server_.stop(SIGTERM), 0) << server_.err();
  ASSERT_NO_FATAL_FAILURE(start_server(flags));

  auto client = connect();
  // The cap: two kept, no third resumable upload.
  EXPECT_EQ(put(*client, 1, "c", 100, true), "QUOTA_EXCEEDED");
  // The bytes: 8 MiB + 1000 are kept, 4 MiB more does not fit in 10 MiB
  // (on disk they hold 1 MiB at most).
  EXPECT_EQ(put(*client, 2, "d", 4 * kMiB, false), "QUOTA_EXCEEDED");
  EXPECT_EQ(put(*client, 3, "e", kMiB, false), "PUT_READY");
  // Resuming a kept one is admitted, its own share credited.
  auto other = connect();
  EXPECT_EQ(put(*other, 1, "a", 8 * kMiB, true), "PUT_READY");
}

// A kept partial file the stale-partial cleanup removes is given back: it
// used to count until the next start.
TEST_F(QuotaTest, PartialFilesRemovedAsStaleAreGivenBack) {
  add_alice({"--quota-bytes", "10M"});
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_, "--partial-ttl", "1"}));
  {
    auto client = connect();
    ASSERT_EQ(put(*client, 1, "a", 8 * kMiB, true), "PUT_READY");
  }  // cut: kept, 8 MiB counted
  auto client = connect();
  std::uint32_t id = 1;
  EXPECT_EQ(put(*client, id++, "b", 6 * kMiB, false), "QUOTA_EXCEEDED");
  // Removed a second or two later; then 6 MiB fits.
  ASSERT_TRUE(partials_settle_at(0));
  std::string verdict;
  for (int attempt = 0; attempt < 50 && verdict != "PUT_READY"; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    verdict = put(*client, id++, "b", 6 * kMiB, false);
  }
  EXPECT_EQ(verdict, "PUT_READY");
}

}  // namespace
}  // namespace ft::testing
