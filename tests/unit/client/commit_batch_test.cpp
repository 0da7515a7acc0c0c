// CommitBatch (ftget's group commit): nothing appears under a final name
// before flush(); flush() renames every waiting file into place with its
// mode and mtime (applying them first to a file added with a Seal), removes
// the records, and answers each cookie in the order added; a file whose
// rename fails fails alone; due() follows the count; a directory added is
// fsynced after the files and answered last. In a fresh directory a file
// has no name until it is published (linked), or kept, or turns out big.
// CommitWorker runs the same flush on its thread and hands the outcomes
// back once.
#include "client/local/commit_batch.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "client/local/commit_worker.hpp"
#include "client/local/landing_file.hpp"

namespace ft::client {
namespace {

namespace fs = std::filesystem;

class CommitBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ft-batch-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_path_ = pattern;
    dir_ = ::open(dir_path_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(dir_, 0);
  }
  void TearDown() override {
    files_.clear();
    ::close(dir_);
    fs::remove_all(dir_path_);
  }
  // A landed, sealed file `name` holding `content` (unsealed: `sealed` false).
  LandingFile& land(const std::string& name, const std::string& content, int dir = -1,
                    bool fresh = false, bool sealed = true) {
    std::string why;
    auto file = LandingFile::open(dir >= 0 ? dir : dir_, name, why, fresh);
    EXPECT_TRUE(file) << why;
    EXPECT_TRUE(file->start_over(PartialRecord{"remote/" + name, content.size(), 0}, why)) << why;
    EXPECT_TRUE(file->write_at(
        0, ByteSpan(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()), why))
        << why;
    if (sealed) {
      EXPECT_TRUE(file->seal(0640, 1'500'000'000'000'000'000, why)) << why;
    }
    files_.push_back(std::move(*file));
    return files_.back();
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_path_ / name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  fs::path dir_path_;
  int dir_ = -1;
  std::vector<LandingFile> files_;
};

TEST_F(CommitBatchTest, FlushPublishesEveryFileInOrder) {
  files_.reserve(3);
  CommitBatch batch;
  int cookies[3] = {0, 1, 2};
  batch.add(land("a", "alpha"), 5, &cookies[0]);
  batch.add(land("b", "bravo!"), 6, &cookies[1]);
  batch.add(land("c", ""), 0, &cookies[2]);
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.bytes(), 11u);
  EXPECT_FALSE(fs::exists(dir_path_ / "a"));  // nothing final before the flush
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(outcomes[i].cookie, &cookies[i]);
    EXPECT_FALSE(outcomes[i].failure) << *outcomes[i].failure;
  }
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(read("a"), "alpha");
  EXPECT_EQ(read("b"), "bravo!");
  EXPECT_EQ(read("c"), "");
  struct stat st {};
  ASSERT_EQ(::stat((dir_path_ / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'500'000'000);
  // Only the three final names are left: no partial, no record.
  std::size_t names = 0;
  for (const auto& entry : fs::directory_iterator(dir_path_)) {
    (void)entry;
    ++names;
  }
  EXPECT_EQ(names, 3u);
}

TEST_F(CommitBatchTest, OneFlushCoversFilesOfSeveralDirectories) {
  // The batch looks at each directory once, however many files it holds.
  fs::create_directory(dir_path_ / "sub");
  const int sub = ::open((dir_path_ / "sub").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  ASSERT_GE(sub, 0);
  files_.reserve(4);
  CommitBatch batch;
  int cookies[4] = {0, 1, 2, 3};
  batch.add(land("a", "in the top"), 10, &cookies[0]);
  batch.add(land("b", "in sub", sub, true), 6, &cookies[1]);
  batch.add(land("c", "top again"), 9, &cookies[2]);
  batch.add(land("d", "sub again", sub, true), 9, &cookies[3]);
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(outcomes[i].cookie, &cookies[i]);
    EXPECT_FALSE(outcomes[i].failure) << *outcomes[i].failure;
  }
  EXPECT_EQ(read("a"), "in the top");
  EXPECT_EQ(read("sub/b"), "in sub");
  EXPECT_EQ(read("c"), "top again");
  EXPECT_EQ(read("sub/d"), "sub again");
  files_.clear();
  ::close(sub);
}

TEST_F(CommitBatchTest, DirectoriesComeBackAfterTheFilesAndAFailedFsyncSaysSo) {
  // A directory added alone makes the batch due (its oldest waited) and
  // not empty; its outcome follows every file's, marked as a directory. A
  // descriptor that cannot be fsynced (none open) fails that directory
  // alone, with the step named as a single commit names it.
  fs::create_directory(dir_path_ / "sub");
  const int sub = ::open((dir_path_ / "sub").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  ASSERT_GE(sub, 0);
  constexpr int closed = 987654;  // no such descriptor: fsync fails (EBADF)
  files_.reserve(1);
  CommitBatch batch;
  int cookies[4] = {0, 1, 2, 3};
  batch.add_directory(sub, dir_, &cookies[1]);
  EXPECT_FALSE(batch.empty());
  EXPECT_EQ(batch.size(), 0u);
  EXPECT_EQ(batch.directories(), 1u);
  EXPECT_TRUE(batch.due(std::chrono::steady_clock::now() + CommitBatch::kMaxWait));
  batch.add(land("a", "alpha", sub, true), 5, &cookies[0]);
  batch.add_directory(closed, -1, &cookies[2]);
  batch.add_directory(dir_, -1, &cookies[3]);
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(outcomes[i].cookie, &cookies[i]);
  EXPECT_FALSE(outcomes[0].directory);
  EXPECT_FALSE(outcomes[0].failure);
  EXPECT_TRUE(outcomes[1].directory);
  EXPECT_FALSE(outcomes[1].failure) << *outcomes[1].failure;
  EXPECT_TRUE(outcomes[2].directory);
  ASSERT_TRUE(outcomes[2].failure);
  EXPECT_EQ(outcomes[2].failure->rfind("fsync of the directory: ", 0), 0u) << *outcomes[2].failure;
  EXPECT_FALSE(outcomes[3].failure) << *outcomes[3].failure;
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(read("sub/a"), "alpha");
  files_.clear();
  ::close(sub);
}

TEST_F(CommitBatchTest, FreshDirectoryLeavesTheRecordNameAloneUntilKept) {
  // In a directory this run made (fresh), a small file's start does not
  // look at the record's name; keeping the partial still refuses a link
  // planted there, and writes no record through it.
  fs::create_symlink("elsewhere", dir_path_ / partial_record_name_for("s"));
  std::string why;
  auto fresh = LandingFile::open(dir_, "s", why, true);
  ASSERT_TRUE(fresh) << why;
  EXPECT_TRUE(fresh->start_over(PartialRecord{"remote/s", 3, 0}, why)) << why;
  EXPECT_TRUE(fresh->write_at(0, ByteSpan(reinterpret_cast<const std::uint8_t*>("abc"), 3), why));
  fresh->keep();
  EXPECT_TRUE(fs::is_symlink(dir_path_ / partial_record_name_for("s")));
  EXPECT_FALSE(fs::exists(dir_path_ / "elsewhere"));
  // Without `fresh` the link is refused at the start, as before.
  auto plain = LandingFile::open(dir_, "s", why);
  ASSERT_TRUE(plain) << why;
  EXPECT_FALSE(plain->start_over(PartialRecord{"remote/s", 3, 0}, why));
  EXPECT_NE(why.find("symbolic link"), std::string::npos) << why;
}

// Every name in `dir`, ft's hidden ones included, sorted.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(CommitBatchTest, FreshDirectoryFilesHaveNoNameUntilPublished) {
  files_.reserve(2);
  CommitBatch batch;
  int first = 0, second = 1;
  batch.add(land("n1", "first", -1, true), 5, &first);
  batch.add(land("n2", "second", -1, true), 6, &second);
  EXPECT_TRUE(names_in(dir_path_).empty()) << "a name before the flush: " << names_in(dir_path_)[0];
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].failure) << *outcomes[0].failure;
  EXPECT_FALSE(outcomes[1].failure) << *outcomes[1].failure;
  EXPECT_EQ(names_in(dir_path_), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(read("n1"), "first");
  EXPECT_EQ(read("n2"), "second");
  struct stat st {};
  ASSERT_EQ(::stat((dir_path_ / "n1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'500'000'000);
}

TEST_F(CommitBatchTest, FreshDirectoryFileTakesItsPartialNameWhenBigOrKept) {
  std::string why;
  // 1 MiB or more: resumable from its start, named and recorded at once.
  auto big = LandingFile::open(dir_, "big", why, true);
  ASSERT_TRUE(big) << why;
  EXPECT_TRUE(names_in(dir_path_).empty());
  ASSERT_TRUE(big->start_over(PartialRecord{"remote/big", 2u << 20, 0}, why)) << why;
  EXPECT_TRUE(fs::exists(dir_path_ / partial_name_for("big")));
  EXPECT_TRUE(fs::exists(dir_path_ / partial_record_name_for("big")));
  // Small, then kept (the connection ended): named with its record then.
  auto small = LandingFile::open(dir_, "small", why, true);
  ASSERT_TRUE(small) << why;
  ASSERT_TRUE(small->start_over(PartialRecord{"remote/small", 5, 0}, why)) << why;
  ASSERT_TRUE(small->write_at(0, ByteSpan(reinterpret_cast<const std::uint8_t*>("abc"), 3), why));
  EXPECT_FALSE(fs::exists(dir_path_ / partial_name_for("small")));
  small->keep();
  EXPECT_EQ(read(partial_name_for("small")), "abc");
  EXPECT_TRUE(fs::exists(dir_path_ / partial_record_name_for("small")));
  // Discarded without a name: nothing to remove, nothing left.
  auto gone = LandingFile::open(dir_, "gone", why, true);
  ASSERT_TRUE(gone) << why;
  gone->discard();
  EXPECT_FALSE(fs::exists(dir_path_ / partial_name_for("gone")));
}

TEST_F(CommitBatchTest, FreshDirectoryFileReplacesANameThatAppeared) {
  files_.reserve(1);
  std::ofstream(dir_path_ / "e") << "old";
  CommitBatch batch;
  int cookie = 0;
  batch.add(land("e", "new", -1, true), 3, &cookie);
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].failure) << *outcomes[0].failure;
  EXPECT_EQ(read("e"), "new");
  EXPECT_EQ(names_in(dir_path_), (std::vector<std::string>{"e"}));
}

TEST_F(CommitBatchTest, FailedRenameFailsThatFileAlone) {
  files_.reserve(2);
  CommitBatch batch;
  int first = 0, second = 1;
  batch.add(land("x", "one"), 3, &first);
  // A non-empty directory at the final name: the rename fails.
  fs::create_directories(dir_path_ / "y" / "inside");
  batch.add(land("y", "two"), 3, &second);
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].failure);
  ASSERT_TRUE(outcomes[1].failure);
  EXPECT_NE(outcomes[1].failure->find("rename"), std::string::npos) << *outcomes[1].failure;
  EXPECT_EQ(read("x"), "one");
  EXPECT_FALSE(fs::exists(dir_path_ / partial_name_for("y")));  // discarded
}

TEST_F(CommitBatchTest, DueAtTheFileCountOrTheOldestFilesWait) {
  files_.reserve(CommitBatch::kMaxFiles);
  CommitBatch batch;
  EXPECT_FALSE(batch.due(std::chrono::steady_clock::now()));
  batch.add(land("first", "z"), 1, nullptr);
  // Asked as of just after the first file was added, so that a slow
  // machine's time to land the others does not count as waiting.
  const auto added = std::chrono::steady_clock::now();
  EXPECT_TRUE(batch.due(added + CommitBatch::kMaxWait));
  for (std::size_t i = 1; i + 1 < CommitBatch::kMaxFiles; ++i) {
    batch.add(land("f" + std::to_string(i), "z"), 1, nullptr);
  }
  EXPECT_FALSE(batch.due(added));
  batch.add(land("last", "z"), 1, nullptr);
  EXPECT_TRUE(batch.due(added));
  EXPECT_EQ(batch.flush().size(), CommitBatch::kMaxFiles);
}

TEST_F(CommitBatchTest, FlushAppliesTheSealOfFilesAddedUnsealed) {
  files_.reserve(2);
  CommitBatch batch;
  int cookies[2] = {0, 1};
  batch.add(land("sealed", "one"), 3, &cookies[0]);
  batch.add(land("unsealed", "two", -1, false, false), 3, &cookies[1],
            CommitBatch::Seal{0604, 1'400'000'000'000'000'000});
  auto outcomes = batch.flush();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].failure);
  EXPECT_FALSE(outcomes[1].failure);
  struct stat st {};
  ASSERT_EQ(::stat((dir_path_ / "unsealed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0604u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'400'000'000);
  ASSERT_EQ(::stat((dir_path_ / "sealed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(read("unsealed"), "two");
}

// The worker flushes on its own thread: nothing is final until the batch
// comes back, its wake descriptor turns readable when it does, and take()
// hands back the outcomes once, in order.
TEST_F(CommitBatchTest, WorkerFlushesOnItsThreadAndWakesTheCaller) {
  files_.reserve(3);
  CommitWorker worker;
  ASSERT_GE(worker.wake_fd(), 0);
  EXPECT_FALSE(worker.busy());
  EXPECT_FALSE(worker.take());
  CommitBatch batch;
  int cookies[3] = {0, 1, 2};
  for (int i = 0; i < 3; ++i) {
    const std::string name = "w" + std::to_string(i);
    batch.add(land(name, name + "!", -1, false, false), 3, &cookies[i],
              CommitBatch::Seal{0640, 1'500'000'000'000'000'000});
  }
  worker.start(batch);
  EXPECT_TRUE(batch.empty());  // handed over
  EXPECT_TRUE(worker.busy());
  EXPECT_EQ(worker.size(), 3u);
  pollfd wake{worker.wake_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&wake, 1, 10'000), 1);  // the flush is done
  auto outcomes = worker.take();
  ASSERT_TRUE(outcomes);
  ASSERT_EQ(outcomes->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*outcomes)[i].cookie, &cookies[i]);
    EXPECT_FALSE((*outcomes)[i].failure) << *(*outcomes)[i].failure;
    EXPECT_EQ(read("w" + std::to_string(i)), "w" + std::to_string(i) + "!");
  }
  EXPECT_FALSE(worker.busy());
  EXPECT_FALSE(worker.take());
  // Taken: the descriptor is quiet again, and nothing is left waiting.
  EXPECT_EQ(::poll(&wake, 1, 0), 0);
  EXPECT_TRUE(worker.wait().empty());
}

TEST_F(CommitBatchTest, WorkerWaitReturnsTheBatchAndTheNextOneStarts) {
  files_.reserve(2);
  CommitWorker worker;
  for (int round = 0; round < 2; ++round) {
    CommitBatch batch;
    const std::string name = "r" + std::to_string(round);
    batch.add(land(name, "abc"), 3, nullptr);
    worker.start(batch);
    auto outcomes = worker.wait();
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_FALSE(outcomes[0].failure);
    EXPECT_EQ(read(name), "abc");
    EXPECT_FALSE(worker.busy());
  }
}

TEST_F(CommitBatchTest, DestroyingTheWorkerFinishesItsBatch) {
  files_.reserve(1);
  {
    CommitWorker worker;
    CommitBatch batch;
    batch.add(land("late", "last words"), 10, nullptr);
    worker.start(batch);
  }  // the files are the caller's again once the worker is gone
  EXPECT_EQ(read("late"), "last words");
  EXPECT_FALSE(fs::exists(dir_path_ / partial_name_for("late")));
}

}  // namespace
}  // namespace ft::client
