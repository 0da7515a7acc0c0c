// JobBatcher on a real libuv loop: jobs and group commits run on the thread
// pool, their completions on the loop, batched as the header promises. The
// served root is a temporary directory; every test ends by proving the loop
// closes (no request left behind), as libuv's own tests do.
//
// A completion is what lets a batch slot go, so while the loop is not run
// the kMaxBatchesRunning batches a JobBatcher may run at once stay taken:
// that many jobs submitted first (occupy_every_batch) make everything
// submitted after them, before uv_run, one batch. That is how these tests build a batch of
// a known content without sleeping.
#include "server/storage/job_batcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/os/exact_io.hpp"
#include "common/os/fd.hpp"
#include "common/os/mtime.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::test {
namespace {

using server::BatchDirs;
using server::CommitItem;
using server::JobBatcher;

constexpr std::int64_t kMtimeNs = 1'600'000'000'123'456'789;

ByteSpan text(const std::string& s) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

/// A door a worker waits at until the loop thread opens it; the wait has a
/// deadline so that a batcher that never opens it fails the test instead of
/// hanging it.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  /// True if the gate opened within the deadline.
  bool wait() {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, std::chrono::seconds(10), [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

/// One upload as server/requests/upload.cpp leaves it before its commit: a
/// temporary file written in the destination directory, its streamed hash,
/// and the CommitItem naming them.
struct StagedUpload {
  Fd dir;
  Fd file;
  StreamHash128 hash;
  std::shared_ptr<CommitItem> item = std::make_shared<CommitItem>();
};

class JobBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    loop_open_ = true;
    batcher_.emplace(&loop_);
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ft-job-batcher-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    root_.reset(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_) << std::strerror(errno);
    loop_thread_ = std::this_thread::get_id();
  }

  void TearDown() override {
    // A test that stopped early still hands the loop back closed.
    if (loop_open_) {
      uv_run(&loop_, UV_RUN_DEFAULT);
      batcher_->close();
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    }
    root_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

  /// uv_loop_close()'s result: 0 when no handle or request is left (the
  /// batcher's wait timer, which the owner closes, aside).
  int close_loop() {
    batcher_->close();
    uv_run(&loop_, UV_RUN_NOWAIT);
    loop_open_ = false;
    return uv_loop_close(&loop_);
  }

  /// Takes every batch slot with jobs that do nothing: until the loop runs
  /// their completions, whatever is submitted next waits as one batch.
  void occupy_every_batch() {
    for (int i = 0; i < JobBatcher::kMaxBatchesRunning; ++i) batcher_->submit([] {}, [] {});
  }

  /// Writes `content` to a new temporary file in the directory of
  /// `components` (created if missing) and fills the CommitItem as an
  /// upload does; `expected` defaults to the content's real hash.
  std::unique_ptr<StagedUpload> stage(const std::vector<std::string>& components,
                                      const std::string& content,
                                      std::optional<Hash128> expected = std::nullopt) {
    auto staged = std::make_unique<StagedUpload>();
    CommitItem& item = *staged->item;
    EXPECT_EQ(server::open_parent_creating(root_.get(), components, staged->dir), 0);
    EXPECT_EQ(server::create_temp_file(staged->dir.get(), item.temp_name, staged->file), 0);
    EXPECT_EQ(write_exact_at(staged->file.get(), content.data(), content.size(), 0), 0);
    staged->hash.update(text(content));
    item.root = root_.get();
    item.file = staged->file.get();
    item.dir = staged->dir.get();
    item.final_name = components.back();
    item.mode = 0640;
    item.mtime_ns = kMtimeNs;
    item.expected = expected.value_or(hash128(text(content)));
    item.hash = &staged->hash;
    return staged;
  }

  std::filesystem::path path_of(const std::string& relative) const { return dir_ / relative; }

  bool exists(const std::string& relative) const {
    struct stat st;
    return ::lstat(path_of(relative).c_str(), &st) == 0;
  }

  std::string read(const std::string& relative) const {
    std::ifstream in(path_of(relative), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  /// Names in `relative` (a directory), temporary files included.
  std::set<std::string> names_in(const std::string& relative) const {
    std::set<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(path_of(relative))) {
      out.insert(entry.path().filename().string());
    }
    return out;
  }

  uv_loop_t loop_{};
  bool loop_open_ = false;
  std::optional<JobBatcher> batcher_;
  std::filesystem::path dir_;
  Fd root_;
  std::thread::id loop_thread_;
};

// ---------------------------------------------------------------- jobs

TEST_F(JobBatcherTest, WorkRunsOnThePoolAndItsCompletionLaterOnTheLoop) {
  std::atomic<bool> work_ran{false};
  std::thread::id work_thread;
  std::thread::id done_thread;
  bool work_seen_by_done = false;
  int done_calls = 0;
  batcher_->submit(
      [&] {
        work_thread = std::this_thread::get_id();
        work_ran = true;
      },
      [&] {
        done_thread = std::this_thread::get_id();
        work_seen_by_done = work_ran;
        ++done_calls;
      });
  // Never completed from the call that started it.
  EXPECT_EQ(done_calls, 0);
  run();
  EXPECT_EQ(done_calls, 1);
  EXPECT_TRUE(work_seen_by_done);
  EXPECT_NE(work_thread, loop_thread_);
  EXPECT_EQ(done_thread, loop_thread_);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, JobsOfOneBatchRunAndCompleteInSubmissionOrder) {
  occupy_every_batch();
  constexpr int kJobs = 6;
  std::mutex mutex;
  std::vector<int> work_order;
  std::vector<std::thread::id> work_threads;
  std::vector<int> done_order;
  std::size_t works_done_at_first_completion = 0;
  for (int i = 0; i < kJobs; ++i) {
    batcher_->submit(
        [&, i] {
          std::lock_guard lock(mutex);
          work_order.push_back(i);
          work_threads.push_back(std::this_thread::get_id());
        },
        [&, i] {
          std::lock_guard lock(mutex);
          if (done_order.empty()) works_done_at_first_completion = work_order.size();
          done_order.push_back(i);
        });
  }
  run();
  const std::vector<int> in_order = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(work_order, in_order);
  EXPECT_EQ(done_order, in_order);
  // One batch is one thread-pool job: one thread ran all the work, and all
  // of it ran before the first completion.
  EXPECT_EQ(std::set<std::thread::id>(work_threads.begin(), work_threads.end()).size(), 1u);
  EXPECT_EQ(works_done_at_first_completion, std::size_t{kJobs});
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, ManySmallJobsRunOnceEachInFewBatches) {
  constexpr int kJobs = 10000;
  std::vector<int> work_runs(kJobs, 0);  // each index written by one job only
  std::vector<std::thread::id> work_threads(kJobs);
  std::vector<int> done_order;
  for (int i = 0; i < kJobs; ++i) {
    batcher_->submit(
        [&, i] {
          ++work_runs[i];
          work_threads[i] = std::this_thread::get_id();
        },
        [&, i] {
          EXPECT_EQ(work_runs[i], 1) << "completion of job " << i << " before its work";
          done_order.push_back(i);
        });
  }
  run();
  EXPECT_EQ(std::count(work_runs.begin(), work_runs.end(), 1), kJobs);
  ASSERT_EQ(done_order.size(), std::size_t{kJobs});
  // The first kMaxBatchesRunning jobs took a batch each; all the others
  // waited for a slot and went in batches of kMaxJobsPerBatch, in
  // submission order: each batch on one thread, its completions in
  // submission order.
  constexpr int kPerBatch = static_cast<int>(JobBatcher::kMaxJobsPerBatch);
  constexpr int kAlone = JobBatcher::kMaxBatchesRunning;
  std::map<int, std::vector<int>> batches;
  for (int i : done_order) {
    if (i >= kAlone) batches[(i - kAlone) / kPerBatch].push_back(i);
  }
  EXPECT_EQ(batches.size(), std::size_t{(kJobs - kAlone + kPerBatch - 1) / kPerBatch});
  for (const auto& [batch, jobs] : batches) {
    EXPECT_TRUE(std::is_sorted(jobs.begin(), jobs.end())) << "batch " << batch;
    std::set<std::thread::id> threads;
    for (int i : jobs) threads.insert(work_threads[i]);
    EXPECT_EQ(threads.size(), 1u) << "batch " << batch;
  }
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, SeveralBatchesRunAtOnceAndTheNextWaitsForOneToEnd) {
  // A blocks its batch until E, submitted after it, has completed: that
  // can only happen if the B jobs ran beside A, one batch each, and C..E
  // started as one batch when a B batch ended.
  constexpr int kBesideA = JobBatcher::kMaxBatchesRunning - 1;
  static_assert(kBesideA >= 1, "a second batch runs beside the first");
  Gate gate;
  std::atomic<bool> gate_opened_in_time{false};
  std::atomic<int> b_completed{0};
  std::atomic<bool> c_saw_a_b_completed{false};
  std::string done_order;
  batcher_->submit([&] { gate_opened_in_time = gate.wait(); }, [&] { done_order += 'A'; });
  for (int i = 0; i < kBesideA; ++i) {
    batcher_->submit([] {},
                     [&] {
                       done_order += 'B';
                       ++b_completed;
                     });
  }
  batcher_->submit([&] { c_saw_a_b_completed = b_completed.load() > 0; },
                   [&] { done_order += 'C'; });
  batcher_->submit([] {}, [&] { done_order += 'D'; });
  batcher_->submit([] {},
                   [&] {
                     done_order += 'E';
                     gate.open();
                   });
  run();
  EXPECT_TRUE(gate_opened_in_time);
  EXPECT_TRUE(c_saw_a_b_completed)
      << "a batch started while " << JobBatcher::kMaxBatchesRunning << " were running";
  // The B batches may complete in any order among themselves, but C..E
  // follow at least one of them, in submission order, and A comes last.
  ASSERT_EQ(done_order.size(), std::size_t(kBesideA + 4));
  EXPECT_EQ(done_order.back(), 'A');
  const auto c = done_order.find("CDE");
  ASSERT_NE(c, std::string::npos) << done_order;
  EXPECT_GT(c, 0u) << done_order;
  EXPECT_EQ(std::count(done_order.begin(), done_order.end(), 'B'), kBesideA);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, AThrowingJobCostsTheOthersNothing) {
  occupy_every_batch();
  std::vector<std::string> events;
  std::mutex mutex;
  auto note = [&](std::string what) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(what));
  };
  batcher_->submit([&] { note("work 0"); }, [&] { note("done 0"); });
  batcher_->submit([]() { throw std::runtime_error("work fails"); }, [&] { note("done 1"); });
  batcher_->submit([&] { note("work 2"); },
                   [&] {
                     note("done 2");
                     throw std::runtime_error("completion fails");
                   });
  batcher_->submit([&] { note("work 3"); }, [&] { note("done 3"); });
  run();
  const std::vector<std::string> want = {"work 0", "work 2", "work 3", "done 0",
                                         "done 1", "done 2", "done 3"};
  EXPECT_EQ(events, want);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, ACompletionMaySubmitTheNextJob) {
  // Upload::commit() does this: its completion queues the closing of the
  // descriptors.
  int chain = 0;
  std::function<void()> next = [&] {
    if (++chain < 5) batcher_->submit([] {}, next);
  };
  batcher_->submit([] {}, next);
  run();
  EXPECT_EQ(chain, 5);
  EXPECT_EQ(close_loop(), 0);
}

// ------------------------------------------------------- group commits

TEST_F(JobBatcherTest, CommitRenamesAVerifiedFileIntoPlaceWithModeAndMtime) {
  auto upload = stage({"hello.txt"}, "hello, world\n");
  const std::string temp_name = upload->item->temp_name;
  bool done = false;
  std::thread::id done_thread;
  batcher_->commit(upload->item, [&] {
    done = true;
    done_thread = std::this_thread::get_id();
  });
  EXPECT_FALSE(done);
  run();
  ASSERT_TRUE(done);
  EXPECT_EQ(done_thread, loop_thread_);
  const CommitItem& item = *upload->item;
  EXPECT_TRUE(item.hash_ok);
  EXPECT_EQ(item.err, 0);
  EXPECT_TRUE(item.temp_name.empty()) << "the temporary name is the final file now";
  EXPECT_EQ(read("hello.txt"), "hello, world\n");
  EXPECT_FALSE(exists(temp_name));
  struct stat st;
  ASSERT_EQ(::stat(path_of("hello.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(mtime_ns_of(st), kMtimeNs);
  EXPECT_EQ(names_in("."), std::set<std::string>{"hello.txt"});
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, CommitWithAWrongHashLeavesNothingUnderTheFinalName) {
  auto upload = stage({"bad.bin"}, "the bytes received", hash128(text("the bytes sent")));
  const std::string temp_name = upload->item->temp_name;
  bool done = false;
  batcher_->commit(upload->item, [&] { done = true; });
  run();
  ASSERT_TRUE(done);
  EXPECT_FALSE(upload->item->hash_ok);
  EXPECT_FALSE(exists("bad.bin"));
  // The temporary file is the caller's to remove: still named in the item.
  EXPECT_EQ(upload->item->temp_name, temp_name);
  EXPECT_TRUE(exists(temp_name));
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, CommitWithoutReplaceRefusesAnExistingName) {
  { std::ofstream(path_of("taken.txt")) << "already here"; }
  auto upload = stage({"taken.txt"}, "newcomer");
  upload->item->no_replace = true;
  const std::string temp_name = upload->item->temp_name;
  batcher_->commit(upload->item, [] {});
  run();
  EXPECT_TRUE(upload->item->hash_ok);
  EXPECT_EQ(upload->item->err, EEXIST);
  EXPECT_EQ(read("taken.txt"), "already here");
  EXPECT_EQ(upload->item->temp_name, temp_name);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, CommitReplacesAnExistingNameByDefault) {
  { std::ofstream(path_of("taken.txt")) << "already here"; }
  auto upload = stage({"taken.txt"}, "newcomer");
  batcher_->commit(upload->item, [] {});
  run();
  EXPECT_EQ(upload->item->err, 0);
  EXPECT_EQ(read("taken.txt"), "newcomer");
  EXPECT_EQ(names_in("."), std::set<std::string>{"taken.txt"});
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, GroupCommitOfManyFilesSettlesEachOnItsOwn) {
  // Enough files in one batch for the one-syncfs path, over three
  // directories, with one bad hash and one refused name among them.
  { std::ofstream(path_of("keep.txt")) << "old"; }
  std::vector<std::unique_ptr<StagedUpload>> uploads;
  std::vector<std::string> finals;
  for (int i = 0; i < 9; ++i) {
    const std::string dir = i % 3 == 0 ? "" : (i % 3 == 1 ? "a" : "a/b");
    const std::string name = "file" + std::to_string(i);
    std::vector<std::string> components;
    if (!dir.empty()) components.push_back("a");
    if (dir == "a/b") components.push_back("b");
    components.push_back(name);
    uploads.push_back(stage(components, "content of " + name));
    finals.push_back(dir.empty() ? name : dir + "/" + name);
  }
  auto bad = stage({"a", "bad"}, "received", hash128(text("sent")));
  auto refused = stage({"keep.txt"}, "new");
  refused->item->no_replace = true;

  occupy_every_batch();
  std::vector<int> done_order;
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    batcher_->commit(uploads[i]->item, [&, i] { done_order.push_back(static_cast<int>(i)); });
  }
  batcher_->commit(bad->item, [&] { done_order.push_back(100); });
  batcher_->commit(refused->item, [&] { done_order.push_back(101); });
  run();

  const std::vector<int> want = {0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101};
  EXPECT_EQ(done_order, want);
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    SCOPED_TRACE(finals[i]);
    EXPECT_TRUE(uploads[i]->item->hash_ok);
    EXPECT_EQ(uploads[i]->item->err, 0);
    EXPECT_EQ(read(finals[i]), "content of file" + std::to_string(i));
  }
  EXPECT_FALSE(bad->item->hash_ok);
  EXPECT_FALSE(exists("a/bad"));
  EXPECT_EQ(refused->item->err, EEXIST);
  EXPECT_EQ(read("keep.txt"), "old");
  EXPECT_EQ(close_loop(), 0);
}

// ------------------------------------------------- commits waiting for company

/// A commit that only records that it ran: a `prepare` that fails (the
/// batch skips its sync and rename) with the code the test gave it.
std::shared_ptr<CommitItem> recording_commit(std::function<void()> on_prepare) {
  auto item = std::make_shared<CommitItem>();
  item->prepare = [on_prepare](CommitItem&, BatchDirs&) {
    on_prepare();
    return ECANCELED;
  };
  return item;
}

TEST_F(JobBatcherTest, CommitsWaitWhileABatchRunsAndRideWithTheNextJob) {
  batcher_->submit([] {}, [] {});  // its completion has not run: still running
  ASSERT_EQ(batcher_->batches_running(), 1);
  std::vector<std::thread::id> commit_threads(5);
  for (std::size_t i = 0; i < commit_threads.size(); ++i) {
    batcher_->commit(recording_commit([&, i] { commit_threads[i] = std::this_thread::get_id(); }),
                     [] {});
  }
  // A batch of 5 would pay a batch's syncs for 5 files: they wait.
  EXPECT_EQ(batcher_->batches_running(), 1);
  std::thread::id job_thread;
  batcher_->submit([&] { job_thread = std::this_thread::get_id(); }, [] {});
  // A plain job never waits, and takes the waiting commits along.
  EXPECT_EQ(batcher_->batches_running(), 2);
  run();
  for (const std::thread::id& thread : commit_threads) EXPECT_EQ(thread, job_thread);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, EnoughWaitingCommitsStartABatchBesideARunningOne) {
  batcher_->submit([] {}, [] {});
  std::atomic<int> ran{0};
  for (std::size_t i = 0; i + 1 < JobBatcher::kMinCommitsWhileBusy; ++i) {
    batcher_->commit(recording_commit([&] { ++ran; }), [] {});
  }
  EXPECT_EQ(batcher_->batches_running(), 1);
  batcher_->commit(recording_commit([&] { ++ran; }), [] {});
  EXPECT_EQ(batcher_->batches_running(), 2);
  run();
  EXPECT_EQ(ran.load(), static_cast<int>(JobBatcher::kMinCommitsWhileBusy));
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, AWaitingCommitStartsAfterTheWaitWhileTheBatchStillRuns) {
  // The running batch ends only once the commit ran: only the wait timer
  // can start it (else the gate's deadline passes and the test fails).
  Gate committed;
  bool batch_saw_commit = false;
  batcher_->submit([&] { batch_saw_commit = committed.wait(); }, [] {});
  batcher_->commit(recording_commit([&] { committed.open(); }), [] {});
  EXPECT_EQ(batcher_->batches_running(), 1);
  run();
  EXPECT_TRUE(batch_saw_commit);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, CloseStartsWaitingCommitsAtOnce) {
  batcher_->submit([] {}, [] {});
  bool ran = false;
  batcher_->commit(recording_commit([&] { ran = true; }), [] {});
  EXPECT_EQ(batcher_->batches_running(), 1);
  batcher_->close();
  EXPECT_EQ(batcher_->batches_running(), 2);
  run();
  EXPECT_TRUE(ran);
  EXPECT_EQ(close_loop(), 0);
}

// An eager upload's whole life in one batch: `prepare` creates and writes
// the file through the batch's directories, `after` cleans up, both in the
// worker, the completion last on the loop.
TEST_F(JobBatcherTest, PrepareAndAfterRunInTheWorkerAroundTheCommit) {
  struct Eager {
    Fd file;
    StreamHash128 hash;
    std::vector<std::string> events;  // written by the worker, read after run()
    std::thread::id worker;
  };
  auto eager = std::make_shared<Eager>();
  const std::string content = "small file, sent at once";
  const std::vector<std::string> components = {"new", "dir", "eager.txt"};
  auto item = std::make_shared<CommitItem>();
  item->root = root_.get();
  item->final_name = components.back();
  item->mode = 0600;
  item->mtime_ns = kMtimeNs;
  item->expected = hash128(text(content));
  item->hash = &eager->hash;
  item->prepare = [eager, content, components](CommitItem& c, BatchDirs& dirs) {
    eager->worker = std::this_thread::get_id();
    eager->events.push_back("prepare");
    const int dir = dirs.parent_of(c.root, components);
    if (dir < 0) return -dir;
    if (int err = server::create_temp_file(dir, c.temp_name, eager->file)) return err;
    c.dir = dir;
    c.file = eager->file.get();
    if (int err = write_exact_at(c.file, content.data(), content.size(), 0)) return err;
    eager->hash.update(text(content));
    return 0;
  };
  item->after = [eager](CommitItem& c) {
    eager->events.push_back(c.temp_name.empty() ? "after: renamed" : "after: not renamed");
    eager->file.reset();
  };
  bool done = false;
  batcher_->commit(item, [&] {
    eager->events.push_back("done");
    done = true;
  });
  run();
  ASSERT_TRUE(done);
  EXPECT_EQ(item->err, 0);
  EXPECT_NE(eager->worker, loop_thread_);
  const std::vector<std::string> want = {"prepare", "after: renamed", "done"};
  EXPECT_EQ(eager->events, want);
  EXPECT_EQ(read("new/dir/eager.txt"), content);
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, AFailedPrepareSkipsTheCommitButNotAfter) {
  auto upload = stage({"never.txt"}, "data");
  CommitItem& item = *upload->item;
  const std::string temp_name = item.temp_name;
  item.prepare = [](CommitItem&, BatchDirs&) { return ENOSPC; };
  bool after_ran = false;
  item.after = [&](CommitItem&) { after_ran = true; };
  bool done = false;
  batcher_->commit(upload->item, [&] { done = true; });
  run();
  ASSERT_TRUE(done);
  EXPECT_TRUE(after_ran);
  EXPECT_EQ(item.err, ENOSPC);
  EXPECT_FALSE(exists("never.txt"));
  EXPECT_TRUE(exists(temp_name));
  EXPECT_EQ(close_loop(), 0);
}

TEST_F(JobBatcherTest, ItemsOfOneBatchShareDirectoriesAndFreeSpace) {
  // Three items' prepare steps, run in one batch, in order; each records
  // what the shared BatchDirs answered.
  struct Seen {
    int first_dir = -1;
    int second_dir = -1;
    int missing_dir = 0;
    int space_err_1 = -1;
    int space_err_2 = -1;
    std::uint64_t space_1 = 0;
    std::uint64_t space_2 = 0;
  };
  auto seen = std::make_shared<Seen>();
  constexpr std::uint64_t kClaim = 4096;
  auto make_item = [&](std::function<int(CommitItem&, BatchDirs&)> prepare) {
    auto item = std::make_shared<CommitItem>();
    item->root = root_.get();
    item->prepare = std::move(prepare);
    return item;
  };
  // Each prepare fails on purpose (EAGAIN) after looking: nothing is
  // committed, only BatchDirs is under test.
  auto first = make_item([seen](CommitItem& c, BatchDirs& dirs) {
    seen->first_dir = dirs.parent_of(c.root, {"x", "y", "one"});
    seen->space_err_1 = dirs.available_bytes(c.root, seen->space_1);
    dirs.claim_bytes(c.root, kClaim);
    return EAGAIN;
  });
  auto second = make_item([seen](CommitItem& c, BatchDirs& dirs) {
    seen->second_dir = dirs.existing_parent_of(c.root, {"x", "y", "two"});
    seen->space_err_2 = dirs.available_bytes(c.root, seen->space_2);
    return EAGAIN;
  });
  auto third = make_item([seen](CommitItem& c, BatchDirs& dirs) {
    seen->missing_dir = dirs.existing_parent_of(c.root, {"nowhere", "three"});
    return EAGAIN;
  });
  occupy_every_batch();
  for (const auto& item : {first, second, third}) batcher_->commit(item, [] {});
  run();
  EXPECT_GE(seen->first_dir, 0);
  EXPECT_EQ(seen->second_dir, seen->first_dir) << "one open directory per batch";
  EXPECT_TRUE(std::filesystem::is_directory(path_of("x/y")));
  EXPECT_EQ(seen->missing_dir, -ENOENT);
  EXPECT_FALSE(exists("nowhere"));
  ASSERT_EQ(seen->space_err_1, 0);
  ASSERT_EQ(seen->space_err_2, 0);
  ASSERT_GE(seen->space_1, kClaim) << "the test's file system is nearly full";
  EXPECT_EQ(seen->space_2, seen->space_1 - kClaim);
  for (const auto& item : {first, second, third}) EXPECT_EQ(item->err, EAGAIN);
  EXPECT_EQ(close_loop(), 0);
}

}  // namespace
}  // namespace ft::test
