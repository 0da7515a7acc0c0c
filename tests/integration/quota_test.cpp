// Per-identity quotas (issue 10, requirement 4): `keys add --quota-bytes /
// --quota-files`, usage of the identity's sub-directory measured at its
// first connection, and an upload over either limit refused with
// QUOTA_EXCEEDED (exit 6) before anything is written.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/rules/errors.hpp"
#include "support/harness.hpp"
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
    return key;
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
};

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

}  // namespace
}  // namespace ft::testing
