#pragma once
// The upload state machine's test bench (server/requests/upload) without a
// socket or a process: a fake connection records what the upload sends, a
// real JobBatcher runs its disk work on libuv's thread pool beneath a
// temporary root, and each test ends by proving the loop closed cleanly.
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
#include "server/requests/upload.hpp"
#include "server/storage/hash_cache.hpp"
#include "server/storage/job_batcher.hpp"
#include "uvx/next_turn.hpp"

namespace ft::server::unit {

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
  bool compress() const override { return compress_; }
  bool delta_put() const override { return delta_put_; }
  bool delta_early() const override { return delta_early_; }
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
  Bytes take_recycled(std::size_t) override { return {}; }
  void fail_protocol(const std::string& reason) override { protocol_errors.push_back(reason); }
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
  void start_hashing(std::function<void()> run) override {
    ++hashing_slots;
    if (hold_hashing) return held_hashing.push_back(std::move(run));
    run();
  }
  void hashing_done() override { --hashing_slots; }
  bool try_extra_hashing() override {
    if (!extra_hashing_free) return false;
    ++hashing_slots;
    ++extra_hashing_taken;
    return true;
  }
  void extra_hashing_done() override { --hashing_slots; }

  void close() {
    next_turn_.close();
    batcher_.close();
  }

  Access access_;
  ServerOptions options_;
  bool resume_ = false;
  bool eager_ = false;
  bool stream_ = false;
  bool compress_ = false;
  bool delta_put_ = false;
  bool delta_early_ = false;
  // Hashing slots (a delta upload's signing): held, and given back; with
  // `hold_hashing` a request waits in held_hashing until the test runs it.
  int hashing_slots = 0;
  bool hold_hashing = false;
  std::vector<std::function<void()>> held_hashing;
  bool extra_hashing_free = true;
  int extra_hashing_taken = 0;
  int slots_ = 0;
  std::size_t disk_backlog = 0;
  std::set<std::string> partials_;
  std::vector<Sent> sent;
  std::vector<std::string> protocol_errors;  // fail_protocol()'s reasons
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
inline Frame frame_of(const Bytes& encoded) {
  FrameDecoder decoder({.sender = Sender::kClient, .expect_hello = false});
  decoder.feed(encoded);
  EXPECT_EQ(decoder.next(), DecodeStatus::kFrame);
  return decoder.take_frame();
}

inline Bytes bytes_of(const std::string& text) {
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

}  // namespace ft::server::unit
