// Fairness between identities (docs/server.md, "Fairness"): while one
// identity floods the server with hash listings of a large file, big
// uploads and big downloads, another identity's small GET and small PUT
// each finish in under 200 ms. And a listing with hashes of a file that did
// not change is served from the hash cache instead of reading it again.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint64_t kMiB = 1024 * 1024;
// Large enough that hashing it takes a pool thread for a long while in
// every build; small enough for tmpfs on a shared machine.
constexpr std::uint64_t kLargeSize = 128 * kMiB;
constexpr std::uint64_t kUploadSize = 64 * kMiB;
constexpr std::uint32_t kRights = 0;  // hello capabilities of the raw clients
const std::string kAllRights = "list,read,create,overwrite";

/// A directory under /dev/shm (tmpfs), removed on destruction: the small
/// PUT is fsynced, and on a disk under other engineers' builds that would
/// measure the disk, not how ftserve shares its threads.
class ShmDir {
 public:
  ShmDir() {
    std::string pattern = "/dev/shm/ft-fair-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ShmDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Bytes ftserve's read calls have returned so far (/proc/PID/io rchar):
/// read_bytes counts only what reached a block device, nothing on tmpfs.
/// Its socket reads are counted too, a few hundred bytes per request here.
std::uint64_t bytes_read_by(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

/// Median of `values` (sorted in place).
double median_ms(std::vector<double>& values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Waits until the coarse real-time clock, which stamps inode changes, has
/// moved past `path`'s ctime by `margin`: the server caches a hash only for
/// a file whose last change is that old (a change within the same clock
/// tick could otherwise go unseen).
void wait_until_settled(const fs::path& path, std::chrono::seconds margin) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const auto changed =
      std::chrono::seconds(st.st_ctim.tv_sec) + std::chrono::nanoseconds(st.st_ctim.tv_nsec);
  for (;;) {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    auto current = std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
    if (current > changed + margin + milliseconds(50)) return;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

class FairnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (root_.path().empty() || !fs::is_directory(root_.path())) {
      GTEST_SKIP() << "no writable /dev/shm";
    }
    keys_ = work_.path() / "keys";
    ASSERT_NO_FATAL_FAILURE(add_identity(keys_, "flooder", kAllRights, flooder_));
    ASSERT_NO_FATAL_FAILURE(add_identity(keys_, "victim", kAllRights, victim_));
    fs::create_directories(root_.path() / "big");
    fs::create_directories(root_.path() / "up");
    write_random_file(root_.path() / "big" / "large.bin", kLargeSize, 7);
    write_random_file(root_.path() / "download.bin", kLargeSize, 8);
    write_file(root_.path() / "small.txt", "0123456789");
  }
  void TearDown() override {
    stop_flood();
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    }
  }

  void start() { ASSERT_NO_FATAL_FAILURE(start_ftserve(server_, root_.path(), {"--keys", keys_})); }

  RawClientOptions as(const std::shared_ptr<TlsContext>& identity) const {
    return RawClientOptions{.source_address = {}, .no_delay = false, .tls = identity};
  }

  /// Runs `body` on a thread of the flood until stop_flood().
  void flood(std::function<void()> body) { threads_.emplace_back(std::move(body)); }
  void stop_flood() {
    stopping_ = true;
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

  /// One connection that keeps `in_flight` LISTs with HASHES of `dir` going.
  void hash_lister(int in_flight, const std::string& dir = "big") {
    RawClient client(server_.port(), as(flooder_));
    if (!client.send_hello(kCapTrees) || !client.read_hello()) return;
    std::uint32_t next_id = 1;
    auto send_list = [&] {
      Bytes out;
      encode_list(out, next_id++, PathMsg{dir}, kFlagHashes);
      return client.send(out);
    };
    for (int i = 0; i < in_flight; ++i) send_list();
    while (!stopping_) {
      auto frame = client.read_frame(std::chrono::seconds(60));
      if (!frame || frame->header.type != FrameType::kEntries) return;
      if ((frame->header.flags & kFlagMore) != 0) continue;
      ++listings_done_;
      if (!send_list()) return;
    }
  }

  /// One connection that uploads a 64 MiB file again and again.
  void uploader() {
    RawClient client(server_.port(), as(flooder_));
    if (!client.send_hello(kRights) || !client.read_hello()) return;
    Bytes chunk(limits::kDefaultChunkSize);
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<std::uint8_t>(i * 131);
    StreamHash128 whole;
    for (std::uint64_t at = 0; at < kUploadSize; at += chunk.size()) whole.update(chunk);
    const Hash128 whole_hash = whole.digest();
    for (std::uint32_t id = 1; !stopping_; ++id) {
      Bytes out;
      encode_put(out, id,
                 PutMsg{"up/flood.bin", kUploadSize, 0644, 1700000000000000000,
                        limits::kDefaultChunkSize, 0u, ""});
      if (!client.send(out) || reply_name(client.read_frame()) != "PUT_READY") return;
      for (std::uint64_t at = 0; at < kUploadSize && !stopping_; at += chunk.size()) {
        out.clear();
        encode_data(out, id, at, chunk);
        if (!client.send(out)) return;
        bytes_moved_ += chunk.size();
      }
      if (stopping_) return;
      out.clear();
      encode_end(out, id, EndMsg{kUploadSize, whole_hash});
      if (!client.send(out) || reply_name(client.read_frame(std::chrono::seconds(60))) != "OK") {
        return;
      }
    }
  }

  /// One connection that downloads a 128 MiB file again and again.
  void downloader() {
    RawClient client(server_.port(), as(flooder_));
    if (!client.send_hello(kRights) || !client.read_hello()) return;
    for (std::uint32_t id = 1; !stopping_; ++id) {
      Bytes out;
      encode_get(out, id, GetMsg{"download.bin", 0});
      if (!client.send(out)) return;
      for (;;) {
        if (stopping_) return;
        auto frame = client.read_frame(std::chrono::seconds(60));
        if (!frame) return;
        if (frame->header.type == FrameType::kEnd) break;
        if (frame->header.type != FrameType::kData && frame->header.type != FrameType::kGetReady) {
          return;
        }
        bytes_moved_ += frame->payload.size();
      }
    }
  }

  /// One connection after another that resumes the upload of `path`,
  /// whose partial file holds `size` bytes: each resume makes the server
  /// hash them all before its PUT_READY, then the connection is cut.
  void resumer(const std::string& path, std::uint64_t size) {
    const PutMsg put{
        path,          size + 1,        0644, 1700000000000000000, limits::kDefaultChunkSize,
        kPutResumable, "source-" + path};
    while (!stopping_) {
      RawClient client(server_.port(), as(flooder_));
      if (!client.send_hello(kCapResume) || !client.read_hello()) return;
      Bytes out;
      encode_put(out, 1, put);
      if (!client.send(out)) return;
      const std::string reply = reply_name(client.read_frame(std::chrono::seconds(120)));
      if (reply == "PUT_READY") ++resumes_done_;
      if (reply != "PUT_READY" && reply != "BUSY") return;
    }
  }

  /// The victim's small GET of small.txt and PUT of `content`, timed: at
  /// least 9 of each, spread over at least 3 s of the flood.
  void time_small_requests(RawClient& victim, std::uint32_t& id, const std::string& content,
                           std::vector<double>& get_ms, std::vector<double>& put_ms) {
    const auto measure_start = Clock::now();
    for (int round = 0; round < 9 || Clock::now() - measure_start < std::chrono::seconds(3);
         ++round) {
      std::this_thread::sleep_for(milliseconds(100));
      auto start = Clock::now();
      ASSERT_EQ(get_file(victim, id++, "small.txt"), "0123456789");
      get_ms.push_back(ms_since(start));
      start = Clock::now();
      ASSERT_EQ(put_file(victim, id++, "victim-" + std::to_string(round % 9) + ".txt", content),
                "OK");
      put_ms.push_back(ms_since(start));
      server_.collect_output();
    }
  }

  ShmDir root_;
  TempDir work_;
  fs::path keys_;
  std::shared_ptr<TlsContext> flooder_;
  std::shared_ptr<TlsContext> victim_;
  ListeningProcess server_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> listings_done_{0};
  std::atomic<int> resumes_done_{0};
  std::atomic<std::uint64_t> bytes_moved_{0};  // uploaded and downloaded
};

// The bound the requirement sets for the victim's small requests, asserted
// on a normal build (scripts/test runs this test on its Release build). A
// sanitized build on a loaded machine is several times slower on the
// flood's side as well; it checks that the victim is served at all and a
// loose bound (a starving server made it wait for seconds).
#if defined(__SANITIZE_ADDRESS__)
constexpr double kSmallRequestBoundMs = 1000.0;
#else
constexpr double kSmallRequestBoundMs = 200.0;
#endif

TEST_F(FairnessTest, SmallGetAndPutStayFastWhileAnotherIdentityFloods) {
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient victim(server_.port(), as(victim_));
  ASSERT_TRUE(victim.connected());
  ASSERT_TRUE(victim.send_hello(kRights));
  ASSERT_TRUE(victim.read_hello());
  std::uint32_t id = 1;
  ASSERT_EQ(get_file(victim, id++, "small.txt"), "0123456789");  // warm: before the flood

  // The file the listings hash changes every 300 ms, so that the hash cache
  // cannot absorb the flood: every listing hashes 128 MiB, as listings of
  // a directory of many changing files would.
  flood([this] {
    const fs::path large = root_.path() / "big" / "large.bin";
    while (!stopping_) {
      ::utimensat(AT_FDCWD, large.c_str(), nullptr, 0);
      std::this_thread::sleep_for(milliseconds(300));
    }
  });
  flood([this] { hash_lister(64); });
  flood([this] { hash_lister(64); });
  flood([this] { uploader(); });
  flood([this] { downloader(); });
  // The flood is on once a listing has been hashed and answered and the
  // transfers are moving.
  const auto flood_start = Clock::now();
  while ((listings_done_ == 0 || bytes_moved_ < 16 * kMiB) &&
         Clock::now() - flood_start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_GT(listings_done_, 0) << "the flood never got going";
  const std::uint64_t moved_before = bytes_moved_;
  const int listings_before = listings_done_;

  std::vector<double> get_ms;
  std::vector<double> put_ms;
  const std::string content = "abcdefghij";
  ASSERT_NO_FATAL_FAILURE(time_small_requests(victim, id, content, get_ms, put_ms));
  const int listings_during = listings_done_ - listings_before;
  const std::uint64_t moved_during = bytes_moved_ - moved_before;
  stop_flood();
  const double get_median = median_ms(get_ms);
  const double put_median = median_ms(put_ms);
  std::printf(
      "victim during the flood: %zu GETs median %.1f ms (max %.1f), %zu PUTs median "
      "%.1f ms (max %.1f); meanwhile the flood: %d listings, %.0f MiB moved\n",
      get_ms.size(), get_median, get_ms.back(), put_ms.size(), put_median, put_ms.back(),
      listings_during, static_cast<double>(moved_during) / kMiB);
  // The flood went on all along (else the numbers say nothing).
  EXPECT_GT(listings_during, 0);
  EXPECT_GT(moved_during, 16 * kMiB);
  EXPECT_LT(get_median, kSmallRequestBoundMs);
  EXPECT_LT(put_median, kSmallRequestBoundMs);
  EXPECT_EQ(read_file(root_.path() / "victim-8.txt"), content);
}

// Resuming an upload hashes its partial data; an identity resuming many
// large uploads at once used to hold that many pool threads. Each resume
// now takes one of the hashing slots, which go to identities in turn.
TEST_F(FairnessTest, SmallGetAndPutStayFastWhileAnotherIdentityResumesManyUploads) {
  // More resumes at once than the server has pool threads (8), each
  // hashing 256 MiB (sparse files: the reads cost CPU, not memory).
  constexpr int kResumers = 12;
  constexpr std::uint64_t kPartialSize = 256 * kMiB;
  fs::create_directories(root_.path() / "resumed");
  for (int i = 0; i < kResumers; ++i) {
    const std::string path = "resumed/file" + std::to_string(i);
    // The partial file a resumable upload of `path` would have left; its
    // PUT declares one byte more, so the data is resumed, never complete.
    const PutMsg put{
        path,          kPartialSize + 1, 0644, 1700000000000000000, limits::kDefaultChunkSize,
        kPutResumable, "source-" + path};
    const fs::path partial = root_.path() / "resumed" / partial_file_name(put);
    write_file(partial, "");
    fs::resize_file(partial, kPartialSize);
  }
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient victim(server_.port(), as(victim_));
  ASSERT_TRUE(victim.connected());
  ASSERT_TRUE(victim.send_hello(kRights));
  ASSERT_TRUE(victim.read_hello());
  std::uint32_t id = 1;
  ASSERT_EQ(get_file(victim, id++, "small.txt"), "0123456789");

  for (int i = 0; i < kResumers; ++i) {
    flood([this, i] { resumer("resumed/file" + std::to_string(i), kPartialSize); });
  }
  const auto flood_start = Clock::now();
  while (resumes_done_ < kResumers && Clock::now() - flood_start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_GE(resumes_done_, kResumers) << "the resumes never got going";
  const int resumes_before = resumes_done_;

  std::vector<double> get_ms;
  std::vector<double> put_ms;
  ASSERT_NO_FATAL_FAILURE(time_small_requests(victim, id, "abc", get_ms, put_ms));
  const int resumes_during = resumes_done_ - resumes_before;
  stop_flood();
  const double get_median = median_ms(get_ms);
  const double put_median = median_ms(put_ms);
  std::printf(
      "victim while %d connections resume %llu MiB each: %zu GETs median %.1f ms (max %.1f), "
      "%zu PUTs median %.1f ms (max %.1f); meanwhile %d resumes hashed\n",
      kResumers, static_cast<unsigned long long>(kPartialSize / kMiB), get_ms.size(), get_median,
      get_ms.back(), put_ms.size(), put_median, put_ms.back(), resumes_during);
  EXPECT_GT(resumes_during, 0);
  EXPECT_LT(get_median, kSmallRequestBoundMs);
  EXPECT_LT(put_median, kSmallRequestBoundMs);
}

// Hashing slots go to identities in turn: with 16 of one identity's
// connections waiting for one, another identity's listing with hashes gets
// the next, not the seventeenth (slots used to go to connections in turn).
TEST_F(FairnessTest, AnotherIdentitysHashListingIsServedInTurn) {
  fs::create_directories(root_.path() / "mine");
  write_file(root_.path() / "mine" / "note.txt", "note");
  // 32 MiB: the victim waits for one such hash at most.
  fs::create_directories(root_.path() / "medium");
  write_random_file(root_.path() / "medium" / "m.bin", 32 * kMiB, 9);
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient victim(server_.port(), as(victim_));
  ASSERT_TRUE(victim.send_hello(kCapTrees));
  ASSERT_TRUE(victim.read_hello());
  // As in the flood above: the listed file changes, so every listing hashes.
  flood([this] {
    const fs::path medium = root_.path() / "medium" / "m.bin";
    while (!stopping_) {
      ::utimensat(AT_FDCWD, medium.c_str(), nullptr, 0);
      std::this_thread::sleep_for(milliseconds(300));
    }
  });
  for (int i = 0; i < 16; ++i) flood([this] { hash_lister(4, "medium"); });
  const auto flood_start = Clock::now();
  while (listings_done_ < 4 && Clock::now() - flood_start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_GE(listings_done_, 4) << "the flood never got going";
  std::vector<double> list_ms;
  for (std::uint32_t id = 1; id <= 9; ++id) {
    std::this_thread::sleep_for(milliseconds(100));
    const auto start = Clock::now();
    Bytes out;
    encode_list(out, id, PathMsg{"mine"}, kFlagHashes);
    ASSERT_TRUE(victim.send(out));
    // (Slots freed used to be taken by whichever connection asked first:
    // the victim could wait for good.)
    auto frame = victim.read_frame(std::chrono::seconds(30));
    ASSERT_TRUE(frame && frame->header.type == FrameType::kEntries) << reply_name(frame);
    list_ms.push_back(ms_since(start));
    server_.collect_output();
  }
  stop_flood();
  const double median = median_ms(list_ms);
  std::printf(
      "victim's LIST with HASHES while 16 connections of another identity hash: "
      "median %.1f ms (max %.1f)\n",
      median, list_ms.back());
  EXPECT_LT(median, kSmallRequestBoundMs);
}

/// The bytes ftserve reads for one LIST with HASHES of big/.
std::uint64_t bytes_read_for_listing(RawClient& client, std::uint32_t id, pid_t server,
                                     Hash128& hash) {
  const std::uint64_t before = bytes_read_by(server);
  Bytes out;
  encode_list(out, id, PathMsg{"big"}, kFlagHashes);
  client.send(out);
  auto frame = client.read_frame(std::chrono::seconds(120));
  EXPECT_TRUE(frame && frame->header.type == FrameType::kEntries);
  if (!frame) return 0;
  auto entries = decode_entries(*frame);
  EXPECT_TRUE(entries && entries->entries.size() == 1);
  if (entries && !entries->entries.empty()) hash = entries->entries.front().content_hash;
  return bytes_read_by(server) - before;
}

TEST_F(FairnessTest, UnchangedFileIsHashedOnceChangedFileAgain) {
  ASSERT_NO_FATAL_FAILURE(start());
  const fs::path large = root_.path() / "big" / "large.bin";
  ASSERT_NO_FATAL_FAILURE(wait_until_settled(large, std::chrono::seconds(2)));
  RawClient client(server_.port(), as(victim_));
  ASSERT_TRUE(client.send_hello(kCapTrees));
  ASSERT_TRUE(client.read_hello());

  Hash128 first{};
  Hash128 second{};
  EXPECT_GE(bytes_read_for_listing(client, 1, server_.pid(), first), kLargeSize);
  EXPECT_LT(bytes_read_for_listing(client, 2, server_.pid(), second), kMiB);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first.hex(), file_hash(large));

  // A change of the content (same size, the mtime put back) changes the
  // ctime: the file is hashed again and its new hash listed.
  struct stat st {};
  ASSERT_EQ(::stat(large.c_str(), &st), 0);
  {
    int fd = ::open(large.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "changed", 7, 1000), 7);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::futimens(fd, times), 0);
    ::close(fd);
  }
  Hash128 third{};
  EXPECT_GE(bytes_read_for_listing(client, 3, server_.pid(), third), kLargeSize);
  EXPECT_NE(third, first);
  EXPECT_EQ(third.hex(), file_hash(large));
}

}  // namespace
}  // namespace ft::testing
