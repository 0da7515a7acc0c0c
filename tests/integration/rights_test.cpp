// Rights and upload limits (issue 5, docs/server.md "Rights"): the open
// server's --read-only and --append-only modes, --max-file-size,
// --free-space-reserve and --max-uploads-per-identity, each through the
// real clients and, where a client cannot provoke it, a raw connection.
// Every refusal must leave nothing behind: no file, no .ft-tmp-*, no
// .ft-part-*.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <thread>

#include "common/rules/errors.hpp"
#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::int64_t kMtime = 1700000000000000000;
constexpr int kExitRemoteRefused = static_cast<int>(Exit::kRemoteRefused);
constexpr int kExitServerError = static_cast<int>(Exit::kServerError);
constexpr int kExitPartial = static_cast<int>(Exit::kPartial);

ByteSpan bytes_of(const std::string& text) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

/// The error code name of an ERROR frame, or what came instead.
std::string outcome(const std::optional<Frame>& frame) {
  if (!frame) return "NO_REPLY";
  switch (frame->header.type) {
    case FrameType::kOk:
      return "OK";
    case FrameType::kPutReady:
      return "PUT_READY";
    case FrameType::kError: {
      auto error = decode_error(frame->payload);
      return error ? to_string(static_cast<ErrorCode>(error->code)) : "MALFORMED_ERROR";
    }
    default:
      return "FRAME_" + std::to_string(static_cast<int>(frame->header.type));
  }
}

/// A server started with extra flags per test.
class RightsTest : public ServerFixture {
 protected:
  std::unique_ptr<RawClient> connect(std::uint32_t capabilities = kCapTrees | kCapEager) {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(capabilities);
    if (!client->read_hello()) return nullptr;
    return client;
  }
  /// A whole upload of `content` on `client` (PUT, then DATA and END once
  /// PUT_READY came): "OK" or the refusal's code name.
  std::string upload(RawClient& client, std::uint32_t id, const std::string& path,
                     const std::string& content, bool eager = false) {
    Bytes out;
    encode_put(out, id,
               PutMsg{path, content.size(), 0644, kMtime, limits::kDefaultChunkSize,
                      eager ? kPutEager : 0u, ""});
    if (!eager) {
      client.send(out);
      auto ready = client.read_frame();
      if (outcome(ready) != "PUT_READY") return outcome(ready);
      out.clear();
    }
    if (!content.empty()) encode_data(out, id, 0, bytes_of(content));
    encode_end(out, id, EndMsg{content.size(), hash128(bytes_of(content))});
    client.send(out);
    return outcome(client.read_frame());
  }
  std::string request(RawClient& client, const Bytes& frames) {
    client.send(frames);
    return outcome(client.read_frame());
  }
  /// No hidden upload state anywhere under the root.
  void expect_no_leftovers() {
    EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-tmp-").empty());
    EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-part-").empty());
  }
};

TEST_F(RightsTest, ReadOnlyRefusesEveryWriteAndStillServes) {
  write_file(root_.path() / "kept.txt", "served as is\n");
  ASSERT_NO_FATAL_FAILURE(start_server({"--read-only"}));
  const auto before = tree_names(root_.path());

  write_file(work_ / "small.txt", "one chunk");
  write_random_file(work_ / "big.bin", 3 * kMiB, 5);  // resumable, not eager
  for (const char* name : {"small.txt", "big.bin"}) {
    RunResult sent = run({bin("ftsend"), (work_ / name).string(), remote("in/")});
    EXPECT_EQ(sent.exit_code, kExitRemoteRefused) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("FORBIDDEN"), std::string::npos) << sent.err;
  }
  RunResult overwrite = run({bin("ftsend"), (work_ / "small.txt").string(), remote()});
  EXPECT_EQ(overwrite.exit_code, kExitRemoteRefused) << overwrite.err;

  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(upload(*client, 1, "raw.txt", "x"), "FORBIDDEN");
  EXPECT_EQ(upload(*client, 2, "raw-eager.txt", "x", true), "FORBIDDEN");
  Bytes out;
  encode_mkdir(out, 3, MkdirMsg{"newdir", 0755, kMtime, 0});
  EXPECT_EQ(request(*client, out), "FORBIDDEN");
  out.clear();
  encode_mkdir(out, 4, MkdirMsg{"", 0700, kMtime, kMkdirSetMtime});
  EXPECT_EQ(request(*client, out), "FORBIDDEN");
  out.clear();
  encode_symlink(out, 5, SymlinkMsg{"link", "kept.txt", kMtime});
  EXPECT_EQ(request(*client, out), "FORBIDDEN");

  EXPECT_EQ(tree_names(root_.path()), before);
  expect_no_leftovers();

  RunResult got = run({bin("ftget"), remote("kept.txt"), (work_ / "back").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(work_ / "back/kept.txt"), "served as is\n");
  RunResult listed = run({bin("ftls"), remote()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("kept.txt"), std::string::npos) << listed.out;
}

TEST_F(RightsTest, AppendOnlyCreatesButNeverOverwrites) {
  write_file(root_.path() / "small.txt", "the original small file\n");
  write_random_file(root_.path() / "big.bin", 2 * kMiB + 7, 1);
  const std::string small_before = file_hash(root_.path() / "small.txt");
  const std::string big_before = file_hash(root_.path() / "big.bin");
  ASSERT_NO_FATAL_FAILURE(start_server({"--append-only"}));

  // New files, small (eager) and large (resumable), are created.
  write_file(work_ / "fresh.txt", "new\n");
  write_random_file(work_ / "fresh.bin", 3 * kMiB, 2);
  for (const char* name : {"fresh.txt", "fresh.bin"}) {
    RunResult sent = run({bin("ftsend"), (work_ / name).string(), remote("in/")});
    ASSERT_EQ(sent.exit_code, 0) << name << ": " << sent.err;
    EXPECT_EQ(file_hash(root_.path() / "in" / name), file_hash(work_ / name));
  }

  // Existing names are refused with EXISTS and keep their bytes.
  write_file(work_ / "small.txt", "a replacement\n");
  write_random_file(work_ / "big.bin", 3 * kMiB, 3);
  for (const char* name : {"small.txt", "big.bin"}) {
    RunResult sent = run({bin("ftsend"), (work_ / name).string(), remote()});
    EXPECT_EQ(sent.exit_code, kExitRemoteRefused) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("EXISTS"), std::string::npos) << sent.err;
  }
  EXPECT_EQ(file_hash(root_.path() / "small.txt"), small_before);
  EXPECT_EQ(file_hash(root_.path() / "big.bin"), big_before);

  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(upload(*client, 1, "small.txt", "raw"), "EXISTS");
  EXPECT_EQ(upload(*client, 2, "small.txt", "raw eager", true), "EXISTS");
  // A link is a name too, and MKDIR of an existing directory changes
  // nothing (its mode would need overwrite) but succeeds.
  Bytes out;
  encode_symlink(out, 3, SymlinkMsg{"small.txt", "big.bin", kMtime});
  EXPECT_EQ(request(*client, out), "EXISTS");
  out.clear();
  encode_symlink(out, 4, SymlinkMsg{"in/link", "fresh.txt", kMtime});
  EXPECT_EQ(request(*client, out), "OK");
  const auto in_mode = fs::status(root_.path() / "in").permissions();
  out.clear();
  encode_mkdir(out, 5, MkdirMsg{"in", 0700, kMtime, kMkdirSetMtime});
  EXPECT_EQ(request(*client, out), "OK");
  EXPECT_EQ(fs::status(root_.path() / "in").permissions(), in_mode);
  out.clear();
  encode_mkdir(out, 6, MkdirMsg{"made/here", 0700, kMtime, kMkdirSetMtime});
  EXPECT_EQ(request(*client, out), "OK");
  EXPECT_EQ(fs::status(root_.path() / "made/here").permissions(), static_cast<fs::perms>(0700));

  EXPECT_EQ(file_hash(root_.path() / "small.txt"), small_before);
  expect_no_leftovers();
}

TEST_F(RightsTest, AppendOnlyCommitKeepsANameThatAppearedMeanwhile) {
  ASSERT_NO_FATAL_FAILURE(start_server({"--append-only"}));
  auto client = connect(kCapResume);
  ASSERT_TRUE(client);
  const std::string content = "the upload's bytes";
  for (std::uint32_t flags : {0u, kPutResumable}) {
    const std::string name = flags == 0 ? "plain.txt" : "resumable.txt";
    Bytes out;
    encode_put(out, 1,
               PutMsg{name, content.size(), 0644, kMtime, limits::kDefaultChunkSize, flags,
                      flags == 0 ? "" : "host:1:2"});
    client->send(out);
    // Checked and opened: the name did not exist. Now it appears.
    ASSERT_EQ(outcome(client->read_frame()), "PUT_READY") << name;
    write_file(root_.path() / name, "written meanwhile");
    out.clear();
    encode_data(out, 1, 0, bytes_of(content));
    encode_end(out, 1, EndMsg{content.size(), hash128(bytes_of(content))});
    EXPECT_EQ(request(*client, out), "EXISTS") << name;
    EXPECT_EQ(read_file(root_.path() / name), "written meanwhile") << name;
  }
  expect_no_leftovers();
}

TEST_F(RightsTest, AppendOnlyTreeCreatesTheOthersAndReportsPartial) {
  fs::create_directories(root_.path() / "tree/sub");
  write_file(root_.path() / "tree/sub/exists.txt", "server copy\n");
  const std::string kept = file_hash(root_.path() / "tree/sub/exists.txt");
  ASSERT_NO_FATAL_FAILURE(start_server({"--append-only"}));

  const fs::path source = work_ / "tree";
  fs::create_directories(source / "sub");
  write_file(source / "a.txt", "a");
  write_random_file(source / "sub/b.bin", 2 * kMiB, 4);
  write_file(source / "sub/exists.txt", "the client's different copy\n");
  RunResult sent = run({bin("ftsend"), "-r", source.string(), remote()});
  EXPECT_EQ(sent.exit_code, kExitPartial) << sent.err;
  EXPECT_NE(sent.err.find("EXISTS"), std::string::npos) << sent.err;
  EXPECT_EQ(file_hash(root_.path() / "tree/a.txt"), file_hash(source / "a.txt"));
  EXPECT_EQ(file_hash(root_.path() / "tree/sub/b.bin"), file_hash(source / "sub/b.bin"));
  EXPECT_EQ(file_hash(root_.path() / "tree/sub/exists.txt"), kept);
  expect_no_leftovers();
}

TEST_F(RightsTest, MaxFileSizeRefusesLargerDeclarations) {
  ASSERT_NO_FATAL_FAILURE(start_server({"--max-file-size", "100000"}));
  write_random_file(work_ / "fits.bin", 100000, 1);
  write_random_file(work_ / "small_over.bin", 100001, 2);    // eager
  write_random_file(work_ / "large_over.bin", 2 * kMiB, 3);  // resumable
  RunResult fits = run({bin("ftsend"), (work_ / "fits.bin").string(), remote()});
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  for (const char* name : {"small_over.bin", "large_over.bin"}) {
    RunResult sent = run({bin("ftsend"), (work_ / name).string(), remote()});
    EXPECT_EQ(sent.exit_code, kExitRemoteRefused) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("FILE_TOO_LARGE"), std::string::npos) << sent.err;
    EXPECT_FALSE(fs::exists(root_.path() / name));
  }
  expect_no_leftovers();
}

TEST_F(RightsTest, FreeSpaceReserveRefusesUploads) {
  // A reserve of one PiB: no upload leaves that much free.
  ASSERT_NO_FATAL_FAILURE(start_server({"--free-space-reserve", std::to_string(1ull << 50)}));
  write_file(work_ / "small.txt", "small");
  write_random_file(work_ / "big.bin", 2 * kMiB, 3);
  for (const char* name : {"small.txt", "big.bin"}) {
    RunResult sent = run({bin("ftsend"), (work_ / name).string(), remote("in/")});
    EXPECT_EQ(sent.exit_code, kExitServerError) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("NO_SPACE"), std::string::npos) << sent.err;
    EXPECT_NE(sent.err.find("free-space reserve"), std::string::npos) << sent.err;
  }
  EXPECT_TRUE(tree_names(root_.path()).empty());
}

TEST_F(RightsTest, HugeDeclaredSizeIsRefusedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start_server({}));
  auto client = connect();
  ASSERT_TRUE(client);
  Bytes out;
  encode_put(out, 1,
             PutMsg{"huge.bin", 1ull << 63, 0644, kMtime, limits::kDefaultChunkSize, 0, ""});
  const auto started = std::chrono::steady_clock::now();
  client->send(out);
  auto reply = client->read_frame();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_EQ(outcome(reply), "NO_SPACE");
  auto error = decode_error(reply->payload);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message,
            "upload refused: would leave less than the server's free-space reserve");
  EXPECT_TRUE(tree_names(root_.path()).empty());
}

TEST_F(RightsTest, PartialCleanupSparesThePartialFileOfAnUploadInFlight) {
  // Claimed partial files are keyed by the uploader's root (device and
  // inode) and the path below it; the cleanup, scanning the whole served
  // root, must still recognise them.
  ASSERT_NO_FATAL_FAILURE(start_server({"--partial-ttl", "1s"}));
  auto client = connect(kCapResume);
  ASSERT_TRUE(client);
  const std::string content(2 * 4096, 'p');
  const PutMsg put{"dir/held.bin", content.size(), 0644, kMtime, 4096, kPutResumable, "host:7:8"};
  Bytes out;
  encode_put(out, 1, put);
  client->send(out);
  ASSERT_EQ(outcome(client->read_frame()), "PUT_READY");
  out.clear();
  encode_data(out, 1, 0, bytes_of(content.substr(0, 4096)));
  client->send(out);
  const fs::path held = root_.path() / "dir" / partial_file_name(put);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::file_size(held) < 4096 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(fs::file_size(held), 4096u);
  // Both look a day old; only the unclaimed one may go.
  const fs::path stale = root_.path() / "dir" / ".ft-part-00000000000000000000000000000000";
  write_file(stale, "nobody's");
  const std::int64_t day_ago = static_cast<std::int64_t>(std::time(nullptr)) - 24 * 60 * 60;
  const struct timespec times[2] = {{static_cast<time_t>(day_ago), 0},
                                    {static_cast<time_t>(day_ago), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, held.c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  while (fs::exists(stale) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(fs::exists(stale)) << "the cleanup did not run";
  ASSERT_TRUE(fs::exists(held)) << "the cleanup removed a partial file in use";
  out.clear();
  encode_data(out, 1, 4096, bytes_of(content.substr(4096)));
  encode_end(out, 1, EndMsg{content.size(), hash128(bytes_of(content))});
  EXPECT_EQ(request(*client, out), "OK");
  EXPECT_EQ(read_file(root_.path() / "dir/held.bin"), content);
  expect_no_leftovers();
}

TEST_F(RightsTest, MaxUploadsPerIdentityCountsEachConnectionAloneInOpenMode) {
  // Open mode has one implicit identity for every anonymous client: each
  // connection has a budget of its own (issue 17). With keys an identity's
  // connections share one: upload_slots_test.cpp.
  ASSERT_NO_FATAL_FAILURE(start_server({"--max-uploads-per-identity", "2"}));
  auto first = connect();
  auto second = connect();
  ASSERT_TRUE(first && second);
  auto put = [](RawClient& client, std::uint32_t id, const std::string& path) {
    Bytes out;
    encode_put(out, id, PutMsg{path, 10, 0644, kMtime, limits::kDefaultChunkSize, 0, ""});
    client.send(out);
    return outcome(client.read_frame());
  };
  EXPECT_EQ(put(*first, 1, "a"), "PUT_READY");
  EXPECT_EQ(put(*second, 1, "b"), "PUT_READY");
  EXPECT_EQ(put(*first, 2, "c"), "PUT_READY");
  EXPECT_EQ(put(*second, 2, "d"), "PUT_READY");
  EXPECT_EQ(put(*first, 3, "x"), "TOO_MANY_UPLOADS");
  EXPECT_EQ(put(*second, 3, "y"), "TOO_MANY_UPLOADS");

  // A cancelled upload gives its slot back before its ERROR is sent.
  Bytes out;
  encode_cancel(out, 1);
  EXPECT_EQ(request(*first, out), "CANCELLED");
  EXPECT_EQ(put(*first, 4, "e"), "PUT_READY");
  EXPECT_EQ(put(*first, 5, "f"), "TOO_MANY_UPLOADS");

  // A finished upload gives its slot back too.
  out.clear();
  const std::string ten = "0123456789";
  encode_data(out, 4, 0, bytes_of(ten));
  encode_end(out, 4, EndMsg{10, hash128(bytes_of(ten))});
  EXPECT_EQ(request(*first, out), "OK");
  // Eager uploads one after another never hold more than one slot.
  for (std::uint32_t id = 10; id < 16; ++id) {
    EXPECT_EQ(upload(*first, id, "eager" + std::to_string(id), ten, true), "OK") << id;
  }
  // Another connection starts with a whole budget.
  auto third = connect();
  ASSERT_TRUE(third);
  EXPECT_EQ(put(*third, 1, "g"), "PUT_READY");
  EXPECT_EQ(put(*third, 2, "h"), "PUT_READY");
  EXPECT_EQ(read_file(root_.path() / "e"), ten);
}

// Identities from a keys file (ftserve --keys), each with its rights and
// maybe a sub-directory, through the real clients with --key-file.
class IdentityRightsTest : public RightsTest {
 protected:
  /// `ftserve keys add NAME --rights RIGHTS [--subdir DIR]`; returns the
  /// path of the identity's client key file.
  fs::path add_key(const std::string& name, const std::string& rights,
                   const std::string& subdir = "") {
    std::vector<std::string> argv{bin("ftserve"), "keys",         "add",      name,
                                  "--keys",       keys_.string(), "--rights", rights};
    if (!subdir.empty()) {
      argv.push_back("--subdir");
      argv.push_back(subdir);
    }
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const fs::path file = work_ / (name + ".key");
    write_file(file, r.out);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    return file;
  }
  void start_with_keys() { ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys_.string()})); }
  RunResult as(const fs::path& key, std::vector<std::string> argv) {
    argv.insert(argv.begin() + 1, {"--key-file", key.string()});
    return run(argv);
  }

  fs::path keys_ = work_ / "keys";
};

TEST_F(IdentityRightsTest, CreateOnlyIdentityNeverOverwrites) {
  const fs::path key = add_key("writer", "list,read,create");
  write_file(root_.path() / "a.txt", "the server's a\n");
  write_random_file(root_.path() / "big.bin", 2 * kMiB + 1, 1);
  const std::string big_before = file_hash(root_.path() / "big.bin");
  ASSERT_NO_FATAL_FAILURE(start_with_keys());

  write_file(work_ / "a.txt", "the client's a\n");
  write_random_file(work_ / "big.bin", 3 * kMiB, 2);
  for (const char* name : {"a.txt", "big.bin"}) {
    RunResult sent = as(key, {bin("ftsend"), (work_ / name).string(), remote()});
    EXPECT_EQ(sent.exit_code, kExitRemoteRefused) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("EXISTS"), std::string::npos) << sent.err;
  }
  EXPECT_EQ(read_file(root_.path() / "a.txt"), "the server's a\n");
  EXPECT_EQ(file_hash(root_.path() / "big.bin"), big_before);

  // New names, small and resumable, are created.
  for (const char* name : {"a.txt", "big.bin"}) {
    RunResult sent = as(key, {bin("ftsend"), (work_ / name).string(), remote("new/")});
    ASSERT_EQ(sent.exit_code, 0) << name << ": " << sent.err;
    EXPECT_EQ(file_hash(root_.path() / "new" / name), file_hash(work_ / name));
  }
  expect_no_leftovers();
}

TEST_F(IdentityRightsTest, ReadOnlyIdentityWritesNothing) {
  const fs::path reader = add_key("reader", "list,read");
  const fs::path lister = add_key("lister", "list");
  write_file(root_.path() / "kept.txt", "kept\n");
  ASSERT_NO_FATAL_FAILURE(start_with_keys());
  const auto before = tree_names(root_.path());

  write_file(work_ / "new.txt", "new\n");
  write_random_file(work_ / "big.bin", 3 * kMiB, 2);
  for (const char* name : {"new.txt", "big.bin"}) {
    RunResult sent = as(reader, {bin("ftsend"), (work_ / name).string(), remote("in/")});
    EXPECT_EQ(sent.exit_code, kExitRemoteRefused) << name << ": " << sent.err;
    EXPECT_NE(sent.err.find("FORBIDDEN"), std::string::npos) << sent.err;
  }
  fs::create_directories(work_ / "tree/sub");
  write_file(work_ / "tree/sub/f", "f");
  RunResult tree = as(reader, {bin("ftsend"), "-r", (work_ / "tree").string(), remote()});
  EXPECT_NE(tree.exit_code, 0) << tree.err;
  EXPECT_NE(tree.err.find("FORBIDDEN"), std::string::npos) << tree.err;
  EXPECT_EQ(tree_names(root_.path()), before);
  expect_no_leftovers();

  RunResult got = as(reader, {bin("ftget"), remote("kept.txt"), (work_ / "back").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(work_ / "back/kept.txt"), "kept\n");

  // list without read: listing works, reading is forbidden.
  RunResult listed = as(lister, {bin("ftls"), remote()});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("kept.txt"), std::string::npos) << listed.out;
  RunResult denied = as(lister, {bin("ftget"), remote("kept.txt"), (work_ / "denied").string()});
  EXPECT_EQ(denied.exit_code, kExitRemoteRefused) << denied.err;
  EXPECT_NE(denied.err.find("FORBIDDEN"), std::string::npos) << denied.err;
  EXPECT_FALSE(fs::exists(work_ / "denied/kept.txt"));
}

TEST_F(IdentityRightsTest, SubdirectoryIdentityIsConfinedToItsTree) {
  const fs::path key = add_key("tenant", "list,read,create,overwrite", "a");
  fs::create_directories(root_.path() / "a/docs");
  fs::create_directories(root_.path() / "b");
  write_file(root_.path() / "a/docs/mine.txt", "mine\n");
  write_file(root_.path() / "b/secret.txt", "secret\n");
  fs::create_symlink("../b", root_.path() / "a/escape");
  fs::create_symlink("../b/secret.txt", root_.path() / "a/escape_file");
  ASSERT_NO_FATAL_FAILURE(start_with_keys());

  // Its root is a/: the listing shows a's entries and nothing of b.
  RunResult listed = as(key, {bin("ftls"), remote()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("docs"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("secret"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("b/"), std::string::npos) << listed.out;

  // Neither "..", nor a link inside a/ that leads to b/, reaches b.
  for (const std::string path : {"../b/secret.txt", "escape/secret.txt", "escape_file"}) {
    const fs::path into = work_ / ("got_" + std::to_string(path.size()));
    RunResult got = as(key, {bin("ftget"), remote(path), into.string()});
    EXPECT_NE(got.exit_code, 0) << path;
    if (path != "../b/secret.txt") {  // the client itself refuses ".."
      EXPECT_NE(got.err.find("PATH_ESCAPES_ROOT"), std::string::npos) << got.err;
    }
    EXPECT_FALSE(fs::exists(into / "secret.txt")) << path;
    EXPECT_FALSE(fs::exists(into / "escape_file")) << path;
  }
  RunResult listed_escape = as(key, {bin("ftls"), remote("escape")});
  EXPECT_EQ(listed_escape.exit_code, kExitRemoteRefused) << listed_escape.err;
  EXPECT_EQ(listed_escape.out.find("secret"), std::string::npos) << listed_escape.out;
  EXPECT_NE(listed_escape.err.find("PATH_ESCAPES_ROOT"), std::string::npos) << listed_escape.err;

  write_file(work_ / "up.txt", "uploaded\n");
  RunResult through = as(key, {bin("ftsend"), (work_ / "up.txt").string(), remote("escape/")});
  EXPECT_EQ(through.exit_code, kExitRemoteRefused) << through.err;
  EXPECT_NE(through.err.find("PATH_ESCAPES_ROOT"), std::string::npos) << through.err;
  EXPECT_EQ(tree_names(root_.path() / "b"), std::vector<std::string>{"secret.txt"});
  EXPECT_EQ(read_file(root_.path() / "b/secret.txt"), "secret\n");

  // Its uploads land below a/, small and resumable alike.
  write_random_file(work_ / "big.bin", 3 * kMiB, 9);
  RunResult sent = as(key, {bin("ftsend"), (work_ / "up.txt").string(),
                            (work_ / "big.bin").string(), remote("docs/")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_.path() / "a/docs/up.txt"), "uploaded\n");
  EXPECT_EQ(file_hash(root_.path() / "a/docs/big.bin"), file_hash(work_ / "big.bin"));
  EXPECT_FALSE(fs::exists(root_.path() / "docs"));
  expect_no_leftovers();
}

}  // namespace
}  // namespace ft::testing
