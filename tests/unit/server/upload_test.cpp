// The upload state machine (server/requests/upload) driven without a
// socket or a process: a fake connection records what the upload sends, a
// real JobBatcher runs its disk work on libuv's thread pool beneath a
// temporary root, and each test ends by proving the loop closed cleanly.
#include "server/requests/upload.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"
#include "server/core/request_context.hpp"
#include "server/storage/hash_cache.hpp"
#include "server/storage/job_batcher.hpp"
#include "uvx/next_turn.hpp"

namespace ft::server {
namespace {

namespace fs = std::filesystem;

/// A frame the upload sent, decoded.
struct Sent {
  FrameType type;
  std::uint32_t id;
  Bytes payload;
};

/// The connection as the upload sees it: replies are decoded and kept,
/// backlog and slots are counted, deferred work runs on the next turn.
class FakeConnection final : public RequestContext, public ServerServices {
 public:
  FakeConnection(uv_loop_t* loop, int root) : loop_(loop), batcher_(loop), next_turn_(loop) {
    access_.root_fd = root;
    access_.rights = kAllRights;
  }
  ~FakeConnection() { EXPECT_EQ(references(), 0u) << "an upload outlived the test"; }

  // ServerServices
  JobBatcher& batcher() override { return batcher_; }
  HashCache& hash_cache() override { return hash_cache_; }
  const ServerOptions& options() const override { return options_; }
  SpaceLedger& space_ledger() override { return space_ledger_; }
  bool acquire_upload_slot(const RequestContext&) override {
    ++slots_;
    return true;
  }
  void release_upload_slot(const RequestContext&) override { --slots_; }
  bool claim_partial(const std::string& key) override { return partials_.insert(key).second; }
  void release_partial(const std::string& key) override { partials_.erase(key); }
  bool hold_partial(const RequestContext&, const std::string&) override { return true; }
  bool keep_partial(const std::string&) override { return true; }
  void partial_gone(const std::string&) override {}
  std::optional<std::string> admit_quota(const RequestContext&, QuotaClaim&) override {
    return std::nullopt;
  }
  void settle_quota(const RequestContext&, const QuotaClaim&, QuotaOutcome) override {}
  void quota_removed(const RequestContext&, std::uint64_t) override {}

  // RequestContext
  uv_loop_t* loop() const override { return loop_; }
  ServerServices& services() const override { return const_cast<FakeConnection&>(*this); }
  int root_fd() const override { return access_.root_fd; }
  const Access& access() const override { return access_; }
  bool resume() const override { return resume_; }
  bool eager() const override { return eager_; }
  bool stream() const override { return stream_; }
  void send_frame(Bytes frame) override {
    FrameDecoder decoder({.sender = Sender::kServer, .expect_hello = false});
    decoder.feed(frame);
    while (decoder.next() == DecodeStatus::kFrame) {
      Frame f = decoder.take_frame();
      sent.push_back(Sent{f.header.type, f.header.request_id, std::move(f.payload)});
    }
  }
  void send_data(std::uint32_t, std::uint64_t, std::uint64_t, std::shared_ptr<Bytes>, std::size_t,
                 std::uint8_t) override {
    ADD_FAILURE() << "an upload sent DATA";
  }
  void send_error(std::uint32_t id, ErrorCode code, const std::string& path,
                  const std::string& message) override {
    Bytes out;
    encode_error(out, id, ErrorMsg{static_cast<std::uint16_t>(code), path, message});
    send_frame(std::move(out));
  }
  void finish_request(std::uint32_t id, bool) override { finished.insert(id); }
  void recycle(Bytes&&) override {}
  void add_disk_backlog(std::size_t bytes) override { disk_backlog += bytes; }
  void remove_disk_backlog(std::size_t bytes) override { disk_backlog -= bytes; }
  std::size_t send_backlog() const override { return 0; }
  std::size_t read_ahead() const override { return 0; }
  void add_read_ahead(std::size_t) override {}
  void remove_read_ahead(std::size_t) override {}
  bool may_buffer(std::size_t) const override { return true; }
  void notify_when_writable(std::weak_ptr<Request>) override {}
  void add_reply_memory(std::size_t) override {}
  void remove_reply_memory(std::size_t) override {}
  void defer(std::function<void()> task) override { next_turn_.defer(std::move(task)); }
  void start_listing(std::function<void()> run, bool) override { run(); }
  void listing_job_done(bool) override {}
  void listing_finished() override {}
  void log_access(const char*, const std::string&, std::uint64_t,
                  std::chrono::steady_clock::time_point, const std::string&,
                  std::uint64_t) override {}
  void start_hashing(std::function<void()> run) override { run(); }
  void hashing_done() override {}

  void close() { next_turn_.close(); }

  Access access_;
  ServerOptions options_;
  bool resume_ = false;
  bool eager_ = false;
  bool stream_ = false;
  int slots_ = 0;
  std::size_t disk_backlog = 0;
  std::set<std::string> partials_;
  std::vector<Sent> sent;
  std::set<std::uint32_t> finished;

 private:
  void references_dropped() override {}

  uv_loop_t* loop_;
  JobBatcher batcher_;
  HashCache hash_cache_;
  SpaceLedger space_ledger_;
  uvx::NextTurn next_turn_;
};

/// A frame as the session would route it: decoded from its encoding.
Frame frame_of(const Bytes& encoded) {
  FrameDecoder decoder({.sender = Sender::kClient, .expect_hello = false});
  decoder.feed(encoded);
  EXPECT_EQ(decoder.next(), DecodeStatus::kFrame);
  return decoder.take_frame();
}

Bytes bytes_of(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

class UploadMachine : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    char pattern[] = "/tmp/ft-upload-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    root_ = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_, 0);
    conn_ = std::make_unique<FakeConnection>(&loop_, root_);
  }

  void TearDown() override {
    upload_.reset();
    run();
    conn_->close();
    run();
    conn_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle or request was left open";
    ::close(root_);
    fs::remove_all(dir_);
  }

  /// Runs the loop until no work is left.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

  void start(PutMsg put) { upload_ = Upload::start(*conn_, kId, std::move(put)); }

  bool data(std::uint64_t offset, const std::string& text, bool corrupt = false) {
    Bytes out;
    encode_data(out, kId, offset, bytes_of(text));
    if (corrupt) out.back() ^= 0x01;  // after the chunk hash was computed
    Frame frame = frame_of(out);
    return upload_->on_frame(frame);
  }

  bool end(std::uint64_t size, const std::string& whole) {
    Bytes out;
    encode_end(out, kId, EndMsg{size, hash128(bytes_of(whole))});
    Frame frame = frame_of(out);
    return upload_->on_frame(frame);
  }

  std::vector<FrameType> sent_types() const {
    std::vector<FrameType> types;
    for (const Sent& s : conn_->sent) types.push_back(s.type);
    return types;
  }

  ErrorCode last_error() const {
    EXPECT_FALSE(conn_->sent.empty());
    EXPECT_EQ(conn_->sent.back().type, FrameType::kError);
    auto error = decode_error(conn_->sent.back().payload);
    EXPECT_TRUE(error.has_value());
    return static_cast<ErrorCode>(error ? error->code : 0);
  }

  /// Names in the root, hidden ones (temporary and partial files) included.
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      out.insert(entry.path().filename().string());
    }
    return out;
  }

  std::string content(const std::string& name) const {
    std::ifstream in(fs::path(dir_) / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static PutMsg put(const std::string& path, std::uint64_t size, std::uint32_t flags = 0) {
    PutMsg m;
    m.path = path;
    m.size = size;
    m.mode = 0640;
    m.mtime_ns = 1'500'000'000'000'000'000;
    m.chunk_size = limits::kMinChunkSize;
    m.put_flags = flags;
    if ((flags & kPutResumable) != 0) m.source_id = "unit-test-source";
    return m;
  }

  static constexpr std::uint32_t kId = 7;
  uv_loop_t loop_{};
  std::string dir_;
  int root_ = -1;
  std::unique_ptr<FakeConnection> conn_;
  std::shared_ptr<Upload> upload_;
};

TEST_F(UploadMachine, PlainUploadIsReadiedWrittenVerifiedAndCommitted) {
  start(put("f.txt", 11));
  EXPECT_TRUE(conn_->sent.empty()) << "nothing may be answered from inside PUT's handler";
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  auto ready = decode_put_ready(conn_->sent[0].payload, false);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->offset, 0u);
  EXPECT_TRUE(data(0, "hello "));
  EXPECT_TRUE(data(6, "world"));
  EXPECT_TRUE(end(11, "hello world"));
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kOk}));
  EXPECT_EQ(names(), std::set<std::string>{"f.txt"}) << "no temporary file may be left";
  EXPECT_EQ(content("f.txt"), "hello world");
  struct stat st;
  ASSERT_EQ(::stat((fs::path(dir_) / "f.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'500'000'000);
  EXPECT_EQ(conn_->finished, std::set<std::uint32_t>{kId});
  EXPECT_EQ(conn_->slots_, 0) << "the identity's upload slot was not released";
  EXPECT_EQ(conn_->disk_backlog, 0u);
}

TEST_F(UploadMachine, WholeFileMismatchCommitsNothing) {
  start(put("f.txt", 5));
  run();
  EXPECT_TRUE(data(0, "abcde"));
  EXPECT_TRUE(end(5, "abcdX"));
  run();
  EXPECT_EQ(last_error(), ErrorCode::CHECKSUM_MISMATCH);
  EXPECT_TRUE(names().empty()) << "a failed upload must leave nothing behind";
  EXPECT_EQ(conn_->slots_, 0);
}

TEST_F(UploadMachine, DamagedChunkFailsWithoutResume) {
  start(put("f.txt", 5));
  run();
  EXPECT_TRUE(data(0, "abcde", /*corrupt=*/true));
  run();
  EXPECT_EQ(last_error(), ErrorCode::CHECKSUM_MISMATCH);
  EXPECT_TRUE(names().empty());
  // Frames still on their way after the ERROR are swallowed, not protocol
  // errors.
  EXPECT_TRUE(end(5, "abcde"));
}

TEST_F(UploadMachine, DamagedChunkIsAskedForAgainWithResume) {
  conn_->resume_ = true;
  start(put("f.txt", 10));
  run();
  EXPECT_TRUE(data(0, "01234"));
  EXPECT_TRUE(data(5, "56789", /*corrupt=*/true));
  run();
  ASSERT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kPutReady}));
  auto rewind = decode_put_ready(conn_->sent[1].payload, true);
  ASSERT_TRUE(rewind && rewind->prefix_hash);
  EXPECT_EQ(rewind->offset, 5u);
  EXPECT_EQ(*rewind->prefix_hash, hash128(bytes_of("01234")))
      << "the prefix hash covers exactly the bytes before the rewind";
  EXPECT_TRUE(data(5, "56789"));
  EXPECT_TRUE(end(10, "0123456789"));
  run();
  EXPECT_EQ(sent_types().back(), FrameType::kOk);
  EXPECT_EQ(content("f.txt"), "0123456789");
}

TEST_F(UploadMachine, EagerUploadCommitsInOneBatchWithoutPutReady) {
  conn_->eager_ = true;
  start(put("dir/small", 3, kPutEager));
  EXPECT_TRUE(data(0, "abc"));
  EXPECT_TRUE(end(3, "abc"));
  run();
  EXPECT_EQ(sent_types(), std::vector<FrameType>{FrameType::kOk});
  EXPECT_EQ(content("dir/small"), "abc");
  EXPECT_EQ(conn_->disk_backlog, 0u);
}

TEST_F(UploadMachine, EagerWithoutAgreementIsRefused) {
  start(put("small", 3, kPutEager));
  run();
  EXPECT_EQ(last_error(), ErrorCode::PROTOCOL);
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, StreamTakesItsSizeFromEnd) {
  conn_->stream_ = true;
  conn_->resume_ = true;
  start(put("dir/piped", 0, kPutStream));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  EXPECT_TRUE(data(0, "01234"));
  EXPECT_TRUE(data(5, "56789"));
  EXPECT_TRUE(end(10, "0123456789"));
  run();
  EXPECT_EQ(sent_types().back(), FrameType::kOk);
  EXPECT_EQ(content("dir/piped"), "0123456789");
}

TEST_F(UploadMachine, StreamEndMustCountTheBytesReceived) {
  conn_->stream_ = true;
  start(put("piped", 0, kPutStream));
  run();
  EXPECT_TRUE(data(0, "01234"));
  EXPECT_TRUE(end(4, "0123"));
  run();
  EXPECT_EQ(last_error(), ErrorCode::SIZE_MISMATCH);
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, DamagedStreamChunkFailsWithoutRewind) {
  conn_->stream_ = true;
  conn_->resume_ = true;
  start(put("piped", 0, kPutStream));
  run();
  EXPECT_TRUE(data(0, "01234", true));
  run();
  EXPECT_EQ(last_error(), ErrorCode::CHECKSUM_MISMATCH);
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, StreamNeedsAgreementSizeZeroAndNoOtherFlag) {
  for (auto [agreed, size, flags] :
       {std::tuple{false, 0ull, kPutStream}, std::tuple{true, 5ull, kPutStream},
        std::tuple{true, 0ull, kPutStream | kPutEager}}) {
    conn_->sent.clear();
    conn_->stream_ = agreed;
    conn_->eager_ = true;
    start(put("piped", size, flags));
    run();
    EXPECT_EQ(last_error(), ErrorCode::PROTOCOL) << agreed << " " << size << " " << flags;
    upload_.reset();
    run();
  }
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, BadPathIsRefusedOnALaterTurn) {
  start(put("../escape", 1));
  EXPECT_TRUE(conn_->sent.empty());
  run();
  EXPECT_EQ(last_error(), ErrorCode::BAD_PATH);
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, WithoutTheCreateRightNothingIsCreated) {
  conn_->access_.rights = kRightList | kRightRead | kRightOverwrite;
  start(put("new/f.txt", 1));
  run();
  EXPECT_EQ(last_error(), ErrorCode::FORBIDDEN);
  EXPECT_TRUE(names().empty()) << "not even the parent directory";
}

TEST_F(UploadMachine, WrongTotalSizeIsASizeMismatch) {
  start(put("f.txt", 4));
  run();
  EXPECT_TRUE(data(0, "abc"));
  EXPECT_TRUE(end(3, "abc"));
  run();
  EXPECT_EQ(last_error(), ErrorCode::SIZE_MISMATCH);
  EXPECT_TRUE(names().empty());
}

TEST_F(UploadMachine, LostConnectionKeepsAResumableUploadsVerifiedData) {
  conn_->resume_ = true;
  start(put("big", 10, kPutResumable));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  EXPECT_TRUE(data(0, "01234"));
  upload_->abort(ErrorCode::CONNECTION_LOST, /*notify=*/false);
  run();
  EXPECT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady}) << "nothing more sent";
  const std::set<std::string> left = names();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(*left.begin(), "big");
  EXPECT_EQ(content(*left.begin()), "01234") << "the partial file keeps the verified chunk";
  EXPECT_TRUE(conn_->partials_.empty()) << "the partial file's claim was not released";
}

TEST_F(UploadMachine, LostConnectionRemovesAPlainUploadsTemporaryFile) {
  start(put("f.txt", 10));
  run();
  EXPECT_TRUE(data(0, "01234"));
  upload_->abort(ErrorCode::CONNECTION_LOST, /*notify=*/false);
  run();
  EXPECT_TRUE(names().empty());
  EXPECT_EQ(conn_->slots_, 0);
}

TEST_F(UploadMachine, CancelAnswersCancelledAndRemovesEverything) {
  start(put("f.txt", 10));
  run();
  EXPECT_TRUE(data(0, "01234"));
  upload_->abort(ErrorCode::CANCELLED, /*notify=*/true);
  run();
  EXPECT_EQ(last_error(), ErrorCode::CANCELLED);
  EXPECT_TRUE(names().empty());
}

}  // namespace
}  // namespace ft::server

namespace ft::server {
namespace {

// docs/protocol.md 5.4: with RESUME a plain PUT's PUT_READY carries the
// XXH3-128 of no bytes, not 16 zero bytes.
TEST_F(UploadMachine, PlainPutReadyWithResumeCarriesTheHashOfNothing) {
  conn_->resume_ = true;
  start(put("f.txt", 3));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  ASSERT_EQ(conn_->sent[0].payload.size(), 24u);
  auto ready = decode_put_ready(conn_->sent[0].payload, true);
  ASSERT_TRUE(ready && ready->prefix_hash);
  EXPECT_EQ(ready->offset, 0u);
  EXPECT_EQ(*ready->prefix_hash, hash128(ByteSpan{}));
}

// docs/protocol.md 7.2: DATA before PUT_READY is refused, refused PUT or not.
TEST_F(UploadMachine, DataBeforePutReadyIsRefusedWithItsReason) {
  start(put("f.txt", 3));
  EXPECT_FALSE(data(0, "abc"));
  EXPECT_EQ(upload_->frame_violation(), "which has had no PUT_READY");
  run();
  upload_->abort(ErrorCode::CONNECTION_LOST, false);
  run();
  start(put("../escape", 3));
  EXPECT_FALSE(data(0, "abc"));
  EXPECT_EQ(upload_->frame_violation(), "which has had no PUT_READY");
  run();
  EXPECT_EQ(last_error(), ErrorCode::BAD_PATH);
}

// docs/protocol.md 7.2: each violation of an upload in progress names its
// reason; the session puts it in ERROR(0, PROTOCOL) and the log.
TEST_F(UploadMachine, EachDataViolationNamesItsReason) {
  start(put("f.txt", 10));
  run();
  EXPECT_FALSE(data(2, "xy"));
  EXPECT_EQ(upload_->frame_violation(), "gap: offset 2, expected 0");
  EXPECT_TRUE(data(0, "ab"));
  EXPECT_FALSE(data(1, "bc"));
  EXPECT_EQ(upload_->frame_violation(), "overlap: offset 1, expected 2");
  EXPECT_FALSE(data(2, std::string(4097, 'x')));
  EXPECT_EQ(upload_->frame_violation(), "longer than the chunk size: 4097 bytes, chunk size 4096");
  EXPECT_FALSE(data(2, "123456789"));
  EXPECT_EQ(upload_->frame_violation(), "past the declared size: 9 bytes at offset 2, size 10");
  EXPECT_TRUE(data(2, "cdefghij"));
  EXPECT_TRUE(end(10, "abcdefghij"));
  EXPECT_FALSE(end(10, "abcdefghij"));
  EXPECT_EQ(upload_->frame_violation(), "after its END");
  run();
  EXPECT_EQ(content("f.txt"), "abcdefghij");
}

}  // namespace
}  // namespace ft::server
