// Hostile paths against a real ftserve, through the protocol (issue 5): the
// corpus in hostile_paths.txt sent as every request that takes a path, each
// refused with its error or confined to the root, and proof that nothing
// outside the root changed (a sentinel file's content, mode and inode, and
// the whole directory around the root). Then the races and links no table
// can express: a parent swapped for a symlink mid-upload, a hard link
// overwritten, planted partial data, magic links under /proc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "common/crypto/checksum.hpp"
#include "common/rules/path_rules.hpp"
#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::string_view kOps[] = {"PUT",  "EAGER", "GET",     "STAT",
                                     "LIST", "MKDIR", "SYMLINK", "TARGET"};
const std::string kSentinelContent = "sentinel: must never change\n";
constexpr mode_t kSentinelMode = 0640;
const std::string kUpload = "hostile upload\n";
constexpr std::int64_t kMtime = 1'600'000'000'000'000'000;

struct Case {
  std::string name;
  std::string path;                           // expanded, $OUT replaced
  std::map<std::string, std::string> expect;  // op -> outcome; TARGET only when listed
  int line = 0;
};

// Expands the PATH field of a corpus line (escapes documented in the file).
std::string expand(std::string_view text, std::size_t& i, const std::string& out_dir,
                   bool in_repeat) {
  std::string result;
  while (i < text.size()) {
    char c = text[i];
    if (c == '}' && in_repeat) return result;
    if (c == '\\') {
      if (i + 1 < text.size() && text[i + 1] == '\\') {
        result += '\\';
        i += 2;
      } else if (i + 3 < text.size() && text[i + 1] == 'x') {
        result += static_cast<char>(std::stoi(std::string(text.substr(i + 2, 2)), nullptr, 16));
        i += 4;
      } else {
        throw std::runtime_error("bad escape in corpus path");
      }
    } else if (c == '{') {
      std::size_t star = text.find('*', i);
      const int count = std::stoi(std::string(text.substr(i + 1, star - i - 1)));
      std::size_t body = star + 1;
      std::size_t end = body;
      const std::string piece = expand(text, end, out_dir, true);
      if (end >= text.size() || text[end] != '}') throw std::runtime_error("unclosed '{'");
      for (int k = 0; k < count; ++k) result += piece;
      i = end + 1;
    } else if (text.substr(i, 4) == "$OUT") {
      result += out_dir;
      i += 4;
    } else {
      result += c;
      ++i;
    }
  }
  if (in_repeat) throw std::runtime_error("unclosed '{'");
  return result;
}

std::vector<Case> load_corpus(const std::string& out_dir) {
  // From the source tree, not __FILE__: a compiler cache may make that relative.
  const fs::path file = fs::path(FT_SOURCE_DIR) / "tests/integration/hostile_paths.txt";
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::vector<Case> cases;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Case c;
    std::string expected, path;
    if (!(fields >> c.name >> expected >> path)) {
      throw std::runtime_error("corpus line " + std::to_string(number) + " is incomplete");
    }
    c.line = number;
    std::size_t at = 0;
    c.path = path == "''" ? "" : expand(path, at, out_dir, false);
    std::string default_outcome;
    std::istringstream items(expected);
    for (std::string item; std::getline(items, item, ',');) {
      auto eq = item.find('=');
      if (eq == std::string::npos) {
        default_outcome = item;
      } else {
        c.expect[item.substr(0, eq)] = item.substr(eq + 1);
      }
    }
    for (std::string_view op : kOps) {
      if (op != "TARGET" && c.expect.count(std::string(op)) == 0) {
        c.expect[std::string(op)] = default_outcome;
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

/// Everything below `dir` except `skip`: type, mode, inode, size, content or
/// link target, one line per name.
std::string snapshot(const fs::path& dir, const fs::path& skip) {
  std::string out;
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) out += ". mode=" + std::to_string(st.st_mode) + "\n";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (p == skip) {
      it.disable_recursion_pending();
      continue;
    }
    if (::lstat(p.c_str(), &st) != 0) continue;
    out += fs::relative(p, dir).string() + " mode=" + std::to_string(st.st_mode) +
           " ino=" + std::to_string(st.st_ino) + " size=" + std::to_string(st.st_size);
    if (S_ISLNK(st.st_mode)) out += " -> " + fs::read_symlink(p).string();
    if (S_ISREG(st.st_mode)) out += " hash=" + file_hash(p);
    out += "\n";
  }
  return out;
}

std::string outcome_of_error(const Frame& frame) {
  auto error = decode_error(frame.payload);
  if (!error) return "MALFORMED_ERROR";
  std::string name = to_string(static_cast<ErrorCode>(error->code));
  if (frame.header.request_id == 0) {
    return name == "PROTOCOL" ? "PROTOCOL_CLOSE" : "CONNECTION_" + name;
  }
  return name;
}

// Every test against an open server and against one with --keys, where the
// same requests come through TLS from an identity with every right (issue 10:
// the corpora ran against open servers only).
class HostilePaths : public ::testing::TestWithParam<ServerMode> {
 protected:
  void SetUp() override {
    fs::create_directories(root_);
    fs::create_directories(out_ / "dir");
    fs::permissions(out_ / "dir", static_cast<fs::perms>(0750));
    write_file(out_ / "sentinel", kSentinelContent);
    ASSERT_EQ(::chmod((out_ / "sentinel").c_str(), kSentinelMode), 0);
    std::vector<std::string> flags;
    if (GetParam() == ServerMode::kKeys) {
      const fs::path keys = base_.path() / "keys";
      ASSERT_NO_FATAL_FAILURE(add_identity(keys, "tester", "list,read,create,overwrite", tls_));
      flags = {"--keys", keys.string()};
    }
    ASSERT_NO_FATAL_FAILURE(start_ftserve(server_, root_, flags));
    plant();
    before_ = snapshot(base_.path(), root_);
  }
  void TearDown() override { EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err(); }

  /// Resets the root to the planted tree listed at the top of the corpus.
  void plant() {
    for (const auto& entry : fs::directory_iterator(root_)) fs::remove_all(entry.path());
    write_file(root_ / "file", "inside\n");
    fs::create_directories(root_ / "dir");
    write_file(root_ / "dir/file", "inside dir\n");
    fs::create_symlink("..", root_ / "dir/up");
    fs::create_symlink("../..", root_ / "dir/upup");
    fs::create_symlink("dir/upup", root_ / "chain");
    fs::create_symlink("../outside/sentinel", root_ / "link_file_rel");
    fs::create_symlink(out_ / "sentinel", root_ / "link_file_abs");
    fs::create_symlink("../outside/dir", root_ / "link_dir_rel");
    fs::create_symlink(out_ / "dir", root_ / "link_dir_abs");
    fs::create_hard_link(out_ / "sentinel", root_ / "hard");
    fs::create_symlink("/proc/self/root", root_ / "proc_root");
    fs::create_symlink("/proc/self/cwd", root_ / "proc_cwd");
    fs::create_symlink("/proc/self/fd", root_ / "proc_fd");
    fs::create_symlink("/proc/self/exe", root_ / "proc_exe");
    fs::create_symlink("loop_b", root_ / "loop_a");
    fs::create_symlink("loop_a", root_ / "loop_b");
  }

  /// The sentinel and everything around the root are as they were.
  void expect_outside_unchanged(const std::string& what) {
    struct stat st;
    ASSERT_EQ(::stat((out_ / "sentinel").c_str(), &st), 0) << what;
    EXPECT_EQ(st.st_mode & 07777, kSentinelMode) << what;
    EXPECT_EQ(read_file(out_ / "sentinel"), kSentinelContent) << what;
    EXPECT_EQ(snapshot(base_.path(), root_), before_) << what;
  }

  std::unique_ptr<RawClient> connect() {
    auto client = std::make_unique<RawClient>(server_.port(), RawClientOptions{.source_address = {}, .no_delay = false, .tls = tls_});
    client->send_hello(kCapTrees | kCapEager);
    if (!client->read_hello()) return nullptr;
    return client;
  }

  /// Reads the reply to a request; on a connection-level error also checks
  /// that the server closed the connection.
  std::string reply(RawClient& client, FrameType success) {
    for (int frames = 0; frames < 1000; ++frames) {
      auto frame = client.read_frame();
      if (!frame) return "NO_REPLY";
      if (frame->header.type == FrameType::kError) {
        std::string outcome = outcome_of_error(*frame);
        if (frame->header.request_id == 0 && !client.closed_by_peer()) outcome += "_BUT_OPEN";
        return outcome;
      }
      if (frame->header.type == success) {
        if (success != FrameType::kEntries) return "OK";
        auto entries = decode_entries(*frame);
        if (!entries) return "MALFORMED_ENTRIES";
        if (!entries->more) return "OK";
        continue;
      }
      if (frame->header.type == FrameType::kPutReady) {
        Bytes out;
        ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(kUpload.data()), kUpload.size());
        encode_data(out, 1, 0, bytes);
        encode_end(out, 1, EndMsg{kUpload.size(), hash128(bytes)});
        client.send(out);
        continue;
      }
      // GET_READY and DATA of a download: read on until END.
    }
    return "TOO_MANY_FRAMES";
  }

  /// Sends one request naming `path` as `op` on a new connection; its
  /// outcome as in the corpus (OK, an error name, PROTOCOL_CLOSE).
  std::string run(std::string_view op, const std::string& path) {
    auto client = connect();
    if (!client) return "NO_HELLO";
    Bytes out;
    FrameType success = FrameType::kOk;
    if (op == "PUT" || op == "EAGER") {
      const bool eager = op == "EAGER";
      encode_put(out, 1,
                 PutMsg{path, kUpload.size(), 0644, kMtime, limits::kDefaultChunkSize,
                        eager ? kPutEager : 0, ""});
      if (eager) {
        ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(kUpload.data()), kUpload.size());
        encode_data(out, 1, 0, bytes);
        encode_end(out, 1, EndMsg{kUpload.size(), hash128(bytes)});
      }
    } else if (op == "GET") {
      encode_get(out, 1, GetMsg{path, 0});
      success = FrameType::kEnd;
    } else if (op == "STAT") {
      encode_stat(out, 1, PathMsg{path});
      success = FrameType::kEntries;
    } else if (op == "LIST") {
      encode_list(out, 1, PathMsg{path});
      success = FrameType::kEntries;
    } else if (op == "MKDIR") {
      encode_mkdir(out, 1, MkdirMsg{path, 0755, kMtime, 0});
    } else if (op == "SYMLINK") {
      encode_symlink(out, 1, SymlinkMsg{path, "file", kMtime});
    } else {
      encode_symlink(out, 1, SymlinkMsg{"newlink", path, kMtime});
    }
    client->send(out);
    return reply(*client, success);
  }

  TempDir base_;
  const fs::path root_ = base_.path() / "root";
  const fs::path out_ = base_.path() / "outside";
  ListeningProcess server_;
  std::shared_ptr<TlsContext> tls_;  // the identity's key, in ServerMode::kKeys
  std::string before_;
};

TEST_P(HostilePaths, CorpusIsRefusedOrConfined) {
  const std::vector<Case> cases = load_corpus(out_.string());
  ASSERT_GE(cases.size(), 40u);
  std::size_t requests = 0;
  for (const Case& c : cases) {
    for (const auto& [op, expected] : c.expect) {
      plant();
      const std::string what = c.name + " (line " + std::to_string(c.line) + ") as " + op +
                               ", path '" + printable(c.path.substr(0, 120)) + "'";
      EXPECT_EQ(run(op, c.path), expected) << what;
      expect_outside_unchanged(what);
      ++requests;
    }
  }
  // Every request ended and the server is still serving.
  EXPECT_EQ(run("STAT", ""), "OK");
  EXPECT_GE(requests, 7 * 40u);
}

TEST_P(HostilePaths, WritesOntoLinksReplaceTheLinkNeverTheTarget) {
  for (const std::string name : {"link_file_rel", "link_file_abs", "link_dir_rel", "hard"}) {
    plant();
    ASSERT_EQ(run("PUT", name), "OK") << name;
    struct stat st, sentinel;
    ASSERT_EQ(::lstat((root_ / name).c_str(), &st), 0) << name;
    ASSERT_EQ(::stat((out_ / "sentinel").c_str(), &sentinel), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode)) << name << " is still a link";
    EXPECT_EQ(st.st_nlink, 1u) << name;
    EXPECT_NE(st.st_ino, sentinel.st_ino) << name << " is still the sentinel";
    EXPECT_EQ(read_file(root_ / name), kUpload) << name;
    EXPECT_EQ(sentinel.st_nlink, name == "hard" ? 1u : 2u) << "the hard link was replaced";
    expect_outside_unchanged("PUT " + name);
  }
}

TEST_P(HostilePaths, ParentSwappedForASymlinkDuringAnUploadStaysInside) {
  fs::remove_all(root_ / "dir");
  fs::create_directories(root_ / "dir");
  auto client = connect();
  ASSERT_TRUE(client);
  const std::string content(3 * 4096, 'x');
  ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(content.data()), content.size());
  Bytes out;
  encode_put(out, 7, PutMsg{"dir/file", content.size(), 0644, kMtime, 4096, 0, ""});
  client->send(out);
  auto ready = client->read_frame();
  ASSERT_TRUE(ready && ready->header.type == FrameType::kPutReady);
  out.clear();
  encode_data(out, 7, 0, bytes.subspan(0, 4096));
  client->send(out);
  // PUT_READY came after the temporary file was made in "dir": the upload
  // holds the directory open while it is swapped.
  ASSERT_EQ(files_with_prefix(root_ / "dir", ".ft-tmp-").size(), 1u);
  fs::rename(root_ / "dir", root_ / "moved");
  fs::create_symlink(out_ / "dir", root_ / "dir");
  out.clear();
  encode_data(out, 7, 4096, bytes.subspan(4096));
  encode_end(out, 7, EndMsg{content.size(), hash128(bytes)});
  client->send(out);
  auto done = client->read_frame();
  ASSERT_TRUE(done);
  // The upload lands in the directory it was opened in (now "moved"), or is
  // refused; never in the directory outside.
  if (done->header.type == FrameType::kOk) {
    EXPECT_EQ(read_file(root_ / "moved/file"), content);
  } else {
    EXPECT_EQ(done->header.type, FrameType::kError);
  }
  EXPECT_TRUE(fs::is_empty(out_ / "dir"));
  expect_outside_unchanged("swapped parent");
  // A new upload through the swapped name is refused.
  plant();
  fs::remove_all(root_ / "dir");
  fs::create_symlink(out_ / "dir", root_ / "dir");
  EXPECT_EQ(run("PUT", "dir/file"), "PATH_ESCAPES_ROOT");
  expect_outside_unchanged("swapped parent, second upload");
}

TEST_P(HostilePaths, PlantedPartialDataLinkedOutsideIsNotWrittenThrough) {
  // A hard link planted under the name a resumable upload will use for its
  // partial data: the server must not resume into (or truncate) the file it
  // points to.
  auto client = std::make_unique<RawClient>(server_.port(), RawClientOptions{.source_address = {}, .no_delay = false, .tls = tls_});
  client->send_hello(kCapResume);
  ASSERT_TRUE(client->read_hello());
  PutMsg put{"victim", 4, 0644, kMtime, limits::kDefaultChunkSize, kPutResumable, "host:1:2"};
  fs::create_hard_link(out_ / "sentinel", root_ / partial_file_name(put));
  Bytes out;
  encode_put(out, 1, put);
  client->send(out);
  auto frame = client->read_frame();
  ASSERT_TRUE(frame);
  if (frame->header.type == FrameType::kPutReady) {
    const std::string content = "abcd";
    ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(content.data()), content.size());
    out.clear();
    encode_data(out, 1, 0, bytes);
    encode_end(out, 1, EndMsg{content.size(), hash128(bytes)});
    client->send(out);
    frame = client->read_frame();
  }
  expect_outside_unchanged("planted partial hard link");
}

INSTANTIATE_TEST_SUITE_P(Servers, HostilePaths,
                         ::testing::Values(ServerMode::kOpen, ServerMode::kKeys), mode_name);

TEST(HostileProcRoot, MagicLinksBeneathTheRootAreRefused) {
  // Served from /proc/self, the root holds real magic links (root, cwd, exe,
  // fd/N): RESOLVE_NO_MAGICLINKS must refuse every one, for reads and writes.
  TempDir base;
  fs::create_directories(base / "outside");
  write_file(base / "outside/sentinel", kSentinelContent);
  const std::string before = snapshot(base.path(), base / "none");
  ListeningProcess server;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(server, "/proc/self"));
  const std::string out_dir = (base / "outside").string();
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GET", "root/etc/passwd"},
      {"GET", "cwd/x"},
      {"GET", "fd/0"},
      {"GET", "exe"},
      {"LIST", "root"},
      {"LIST", "cwd"},
      {"LIST", "fd/0"},
      {"PUT", "root" + out_dir + "/new"},
      {"PUT", "cwd/new"},
      {"MKDIR", "root" + out_dir + "/d"},
      {"PUT", "root" + out_dir + "/sentinel"}};
  for (const auto& [op, path] : requests) {
    RawClient client(server.port());
    client.send_hello(kCapTrees);
    ASSERT_TRUE(client.read_hello());
    Bytes out;
    if (op == "GET") encode_get(out, 1, GetMsg{path, 0});
    if (op == "LIST") encode_list(out, 1, PathMsg{path});
    if (op == "PUT") encode_put(out, 1, PutMsg{path, 1, 0644, kMtime, 4096, 0, ""});
    if (op == "MKDIR") encode_mkdir(out, 1, MkdirMsg{path, 0755, kMtime, 0});
    client.send(out);
    auto frame = client.read_frame();
    ASSERT_TRUE(frame) << op << " " << path;
    ASSERT_EQ(frame->header.type, FrameType::kError) << op << " " << path;
    EXPECT_EQ(outcome_of_error(*frame), "PATH_ESCAPES_ROOT") << op << " " << path;
  }
  EXPECT_EQ(read_file(base / "outside/sentinel"), kSentinelContent);
  EXPECT_EQ(snapshot(base.path(), base / "none"), before);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.err();
}

}  // namespace
}  // namespace ft::testing
