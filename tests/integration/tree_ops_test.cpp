// ftserve's side of the TREES capability (docs/protocol.md, section 5.5),
// frame by frame: MKDIR, SYMLINK with target confinement, LIST with hashes
// and link targets.
#include <sys/stat.h>
#include <unistd.h>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

class TreeOps : public ServerTest {
 protected:
  std::unique_ptr<RawClient> connect(std::uint32_t capabilities = kCapTrees) {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(capabilities);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  // Sends one request and returns its reply's error code (0 for OK).
  int request(RawClient& client, const Bytes& frame) {
    client.send(frame);
    auto reply = client.read_frame();
    if (!reply) return -1;
    if (reply->header.type == FrameType::kOk) return 0;
    auto error = decode_error(reply->payload);
    return error ? error->code : -2;
  }
  int mkdir(RawClient& c, const std::string& path, std::uint32_t mode, std::int64_t mtime,
            std::uint32_t flags) {
    Bytes out;
    encode_mkdir(out, 1, MkdirMsg{path, mode, mtime, flags});
    return request(c, out);
  }
  int symlink(RawClient& c, const std::string& path, const std::string& target) {
    Bytes out;
    encode_symlink(out, 2, SymlinkMsg{path, target, 1500000000000000000});
    return request(c, out);
  }
  std::vector<Entry> list(RawClient& c, const std::string& path, std::uint8_t flags) {
    Bytes out;
    encode_list(out, 3, PathMsg{path}, flags);
    c.send(out);
    std::vector<Entry> entries;
    for (int frames = 0; frames < 100; ++frames) {
      auto reply = c.read_frame();
      if (!reply || reply->header.type != FrameType::kEntries) break;
      auto msg = decode_entries(*reply);
      if (!msg) break;
      EXPECT_EQ(msg->fields, flags);
      entries.insert(entries.end(), msg->entries.begin(), msg->entries.end());
      if (!msg->more) break;
    }
    return entries;
  }
};

constexpr int kBadPath = static_cast<int>(ErrorCode::BAD_PATH);

TEST_F(TreeOps, MkdirCreatesNestedDirectoriesWithModeAndMtime) {
  auto c = connect();
  EXPECT_EQ(mkdir(*c, "a/b/c", 0750, 0, 0), 0);
  struct stat st;
  ASSERT_EQ(::stat((root_.path() / "a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  EXPECT_EQ(mkdir(*c, "a/b/c", 0700, 1234567890123456789, kMkdirSetMtime), 0);
  ASSERT_EQ(::stat((root_.path() / "a/b/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
}

TEST_F(TreeOps, MkdirOverAFileIsRefused) {
  write_file(root_.path() / "f", "x");
  auto c = connect();
  EXPECT_EQ(mkdir(*c, "f", 0755, 0, 0), static_cast<int>(ErrorCode::NOT_A_DIRECTORY));
  EXPECT_EQ(mkdir(*c, "../up", 0755, 0, 0), kBadPath);
  EXPECT_EQ(read_file(root_.path() / "f"), "x");
}

TEST_F(TreeOps, SymlinkInsideTheTreeIsCreatedAndReplacesAFile) {
  fs::create_directory(root_.path() / "d");
  write_file(root_.path() / "d/target", "t");
  write_file(root_.path() / "d/link", "old file");
  auto c = connect();
  EXPECT_EQ(symlink(*c, "d/link", "target"), 0);
  EXPECT_EQ(symlink(*c, "d/up", "../d/./target"), 0);
  EXPECT_EQ(fs::read_symlink(root_.path() / "d/link"), "target");
  EXPECT_EQ(read_file(root_.path() / "d/up"), "t");
  struct stat st;
  ASSERT_EQ(::lstat((root_.path() / "d/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
}

TEST_F(TreeOps, SymlinkLeavingTheTreeIsRefusedAndNothingIsCreated) {
  auto c = connect();
  EXPECT_EQ(symlink(*c, "l1", "/etc/passwd"), kBadPath);
  EXPECT_EQ(symlink(*c, "l2", ".."), kBadPath);
  EXPECT_EQ(symlink(*c, "d/l3", "../../x"), kBadPath);
  EXPECT_EQ(symlink(*c, "d/l4", "a/../../../x"), kBadPath);
  fs::create_directory(root_.path() / "dir");
  EXPECT_EQ(symlink(*c, "dir", "x"), static_cast<int>(ErrorCode::IS_A_DIRECTORY));
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dir"}));
}

TEST_F(TreeOps, ListWithHashesAndTargets) {
  write_file(root_.path() / "file", "content");
  fs::create_symlink("file", root_.path() / "link");
  fs::create_directory(root_.path() / "sub");
  auto c = connect();
  auto entries = list(*c, "", kFlagHashes | kFlagTargets);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "file");
  EXPECT_EQ(entries[0].content_hash,
            hash128(ByteSpan(reinterpret_cast<const std::uint8_t*>("content"), 7)));
  EXPECT_EQ(entries[0].target, "");
  EXPECT_EQ(entries[1].name, "link");
  EXPECT_EQ(entries[1].target, "file");
  EXPECT_EQ(entries[1].content_hash, Hash128{});
  EXPECT_EQ(entries[2].type, EntryType::kDirectory);
}

TEST_F(TreeOps, TreeRequestsWithoutTheCapabilityAreProtocolErrors) {
  auto c = connect(0);
  Bytes out;
  encode_mkdir(out, 1, MkdirMsg{"d", 0755, 0, 0});
  c->send(out);
  auto reply = c->read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header.request_id, 0u);
  EXPECT_TRUE(c->closed_by_peer());
  EXPECT_TRUE(root_names().empty());
}

}  // namespace
}  // namespace ft::testing
