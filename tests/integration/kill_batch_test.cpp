// Issue 15: ftserve killed (SIGKILL) in the middle of group commits on the
// real disk. Several `ftsend -r --json` clients upload trees of small files
// at once, so that batches mix connections and directories; once the first
// acknowledgements arrive the server is killed while the clients still
// send. A server started again on the same root must hold every file a
// client acknowledged (a per-file "sent" line, printed on OK) with its exact
// bytes and mtime, nothing partial under any final name, and no temporary
// file of the cut uploads once it says it listens (the start-up pass).
//
// A kill keeps the page cache, so this shows the order of the steps
// (nothing visible before it is whole, OK only after the commit), not the
// syncs themselves: crash_test.cpp cuts the power of an ext4 image for that.
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kClients = 4;
constexpr int kDirsPerTree = 10;
constexpr int kFilesPerDir = 40;
// Killed at the first acknowledgements of the first client: batches are
// under way on every connection then, and most of the files still to come.
constexpr std::size_t kKillAfterAcknowledged = 1;
constexpr auto kLineDeadline = std::chrono::milliseconds(20'000);
constexpr long kTmpfsMagic = 0x01021994;

// A directory on the real disk: the test is about a file system with a
// journal and a page cache to write back, which /tmp (often tmpfs) may not
// be. Removed on destruction.
class DiskDir {
 public:
  DiskDir() {
    const fs::path parent =
        fs::is_directory("/var/tmp") ? fs::path("/var/tmp") : fs::temp_directory_path();
    std::string pattern = (parent / "ft-kill-batch-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~DiskDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  DiskDir(const DiskDir&) = delete;
  DiskDir& operator=(const DiskDir&) = delete;
  const fs::path& path() const { return path_; }
  bool on_tmpfs() const {
    struct statfs info;
    return ::statfs(path_.c_str(), &info) == 0 && info.f_type == kTmpfsMagic;
  }

 private:
  fs::path path_;
};

std::int64_t mtime_ns(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Files of a few hundred bytes to 12 KiB: one eager PUT each, the kind a
// batch holds by the hundred.
void make_tree(const fs::path& top, std::uint32_t seed) {
  for (int d = 0; d < kDirsPerTree; ++d) {
    const fs::path dir = top / ("d" + std::to_string(d));
    fs::create_directories(dir);
    for (int f = 0; f < kFilesPerDir; ++f) {
      write_random_file(dir / ("f" + std::to_string(f) + ".bin"), 300 + (f * 997 + d * 131) % 12000,
                        seed++);
    }
  }
}

// The local paths of the "sent" lines among `lines`.
void collect_acknowledged(const std::vector<std::string>& lines, std::vector<fs::path>& out) {
  for (const std::string& line : lines) {
    const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_discarded() || parsed.value("event", "") != "sent") continue;
    out.emplace_back(parsed.value("path", ""));
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

TEST(KillBatchTest, ServerKilledDuringGroupCommitsKeepsEveryAcknowledgedFile) {
  DiskDir disk;
  if (disk.on_tmpfs()) std::cout << "[ note     ] /var/tmp is tmpfs here: no real disk\n";
  const fs::path root = disk.path() / "root";
  const fs::path sources = disk.path() / "sources";
  fs::create_directories(root);
  for (int c = 0; c < kClients; ++c) {
    make_tree(sources / ("t" + std::to_string(c)), 1000u * (c + 1));
  }

  ListeningProcess server;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(server, root));
  std::vector<std::unique_ptr<BackgroundProcess>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<BackgroundProcess>());
    clients.back()->start({bin("ftsend"), "-r", "--json", "--retries", "0",
                           (sources / ("t" + std::to_string(c))).string(),
                           loopback_remote(server.port(), "up/c" + std::to_string(c))});
  }
  // The first client's acknowledgements decide when to kill.
  std::vector<fs::path> acknowledged;
  while (acknowledged.size() < kKillAfterAcknowledged) {
    const std::vector<std::string> lines = clients[0]->read_lines(kLineDeadline);
    ASSERT_FALSE(lines.empty()) << "the first client ended or stalled before "
                                << kKillAfterAcknowledged << " acknowledgements";
    collect_acknowledged(lines, acknowledged);
  }
  server.stop(SIGKILL);

  int cut_clients = 0;
  for (auto& client : clients) {
    const RunResult result = client->finish(std::chrono::seconds(30));
    collect_acknowledged(split_lines(result.out), acknowledged);
    if (result.exit_code != 0) ++cut_clients;
  }
  const std::size_t total = static_cast<std::size_t>(kClients) * kDirsPerTree * kFilesPerDir;
  ASSERT_LT(acknowledged.size(), total) << "every file was acknowledged before the kill";
  EXPECT_GT(cut_clients, 0) << "every client finished before the kill: nothing was cut";

  // The start-up pass removes the cut uploads' temporary files before the
  // server says it listens. How many the kill left is reported, not
  // asserted: it depends on where the batch was.
  const std::size_t left_by_kill = files_with_prefix(root, ".ft-tmp-").size();
  ListeningProcess again;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(again, root));
  EXPECT_TRUE(files_with_prefix(root, ".ft-tmp-").empty())
      << "temporary files of the cut uploads were left after the restart";

  // Every acknowledged file: exact bytes and mtime.
  std::map<fs::path, fs::path> source_of;  // under root -> source
  for (int c = 0; c < kClients; ++c) {
    const fs::path top = sources / ("t" + std::to_string(c));
    for (const auto& entry : fs::recursive_directory_iterator(top)) {
      if (!entry.is_regular_file()) continue;
      source_of[root / "up" / ("c" + std::to_string(c)) /
                entry.path().lexically_relative(sources)] = entry.path();
    }
  }
  std::size_t checked = 0;
  for (const fs::path& local : acknowledged) {
    const fs::path relative = local.lexically_relative(sources);
    const std::string client = relative.begin()->string();  // "tN"
    const fs::path stored = root / "up" / ("c" + client.substr(1)) / relative;
    ASSERT_TRUE(fs::is_regular_file(stored)) << "acknowledged but missing: " << stored;
    EXPECT_EQ(file_hash(stored), file_hash(local)) << stored;
    EXPECT_EQ(mtime_ns(stored), mtime_ns(local)) << stored;
    ++checked;
  }
  EXPECT_GE(checked, kKillAfterAcknowledged);

  // Nothing torn: every visible file, acknowledged or not (a commit may
  // have renamed it before the kill cut its OK), is its source, whole.
  std::size_t visible = 0;
  for (const std::string& name : visible_tree_names(root)) {
    const fs::path path = root / name;
    if (!fs::is_regular_file(path)) continue;
    ++visible;
    auto source = source_of.find(path);
    ASSERT_NE(source, source_of.end()) << "a file no client sent: " << path;
    EXPECT_EQ(file_hash(path), file_hash(source->second)) << "torn or partial: " << path;
  }
  std::cout << "[ killed   ] after " << acknowledged.size() << " acknowledgements; " << visible
            << " of " << source_of.size() << " files visible after the restart; " << left_by_kill
            << " temporary files left by the kill; " << cut_clients << " of " << kClients
            << " clients cut\n";
  EXPECT_EQ(again.stop(SIGTERM), 0) << again.err();
}

}  // namespace
}  // namespace ft::testing
