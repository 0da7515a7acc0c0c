// PutPipeline without a server: the test plays the server's side of one
// Session in its own process. The Session runs over one end of a
// socketpair() (Connection::adopt); the test writes the server's hello into
// the other end, reads back and decodes every frame the pipeline queued,
// and hands the pipeline its replies through on_frame(), as Session::run()
// would. What is checked: the PUT each source gets, the DATA and END that
// follow (order, offsets, chunk and file hashes), the send-queue budget,
// resumes and rewinds, and what each reply (OK, ERROR, a PUT_READY out of
// turn) does to the upload and to the session.
#include "client/transfer/put_pipeline.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "client/net/connection.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "common/os/exact_io.hpp"
#include "common/os/fd.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::test {
namespace {

using client::Connection;
using client::IoResult;
using client::PutPipeline;
using client::Session;
using client::SessionHandler;
using client::UploadItem;
using client::UploadSettings;
using client::UploadState;

constexpr std::uint32_t kChunk = limits::kMinChunkSize;  // 4096
constexpr std::int64_t kMtimeNs = 1'500'000'000'987'654'321;

/// Recognisable bytes, different in every chunk.
Bytes content_of(std::size_t size, unsigned seed = 1) {
  Bytes out(size);
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    out[i] = static_cast<std::uint8_t>(x >> 16);
  }
  return out;
}

Hash128 hash_of_prefix(const Bytes& content, std::size_t length) {
  return hash128(ByteSpan(content).first(length));
}

/// A frame as a short line: "PUT 1 a", "DATA 1 @4096+4096", "END 1 10000",
/// "CANCEL 1".
std::string describe(const Frame& frame) {
  const std::string id = std::to_string(frame.header.request_id);
  switch (frame.header.type) {
    case FrameType::kPut: {
      auto put = decode_put(frame.payload);
      return "PUT " + id + " " + (put ? put->path : "(malformed)");
    }
    case FrameType::kData: {
      auto data = decode_data(frame.payload);
      if (!data) return "DATA " + id + " (malformed)";
      return "DATA " + id + " @" + std::to_string(data->offset) + "+" +
             std::to_string(data->bytes.size());
    }
    case FrameType::kEnd: {
      auto end = decode_end(frame.payload);
      return "END " + id + " " + (end ? std::to_string(end->total_size) : "(malformed)");
    }
    default:
      return frame_type_name(static_cast<std::uint8_t>(frame.header.type)) + " " + id;
  }
}

std::vector<std::string> describe(const std::vector<Frame>& frames) {
  std::vector<std::string> out;
  for (const Frame& frame : frames) out.push_back(describe(frame));
  return out;
}

/// Checks every DATA and END of `id` in `frames` against `content`: the
/// bytes at their offset, the chunk hash, the size and whole-file hash.
void expect_faithful(const std::vector<Frame>& frames, std::uint32_t id, const Bytes& content) {
  for (const Frame& frame : frames) {
    if (frame.header.request_id != id) continue;
    if (frame.header.type == FrameType::kData) {
      auto data = decode_data(frame.payload);
      ASSERT_TRUE(data);
      ASSERT_LE(data->offset + data->bytes.size(), content.size());
      const ByteSpan want = ByteSpan(content).subspan(data->offset, data->bytes.size());
      EXPECT_TRUE(std::equal(want.begin(), want.end(), data->bytes.begin()))
          << "DATA at " << data->offset;
      EXPECT_EQ(data->chunk_hash, hash64(data->bytes)) << "DATA at " << data->offset;
    } else if (frame.header.type == FrameType::kEnd) {
      auto end = decode_end(frame.payload);
      ASSERT_TRUE(end);
      EXPECT_EQ(end->total_size, content.size());
      EXPECT_EQ(end->file_hash, hash128(content));
    }
  }
}

/// A server reply as Session::run() would hand it over.
Frame reply_frame(const Bytes& encoded) {
  FrameDecoder decoder(FrameDecoder::Options{.sender = Sender::kServer, .expect_hello = false});
  EXPECT_EQ(decoder.feed(encoded), encoded.size());
  EXPECT_EQ(decoder.next(), DecodeStatus::kFrame);
  return decoder.take_frame();
}

/// Finishes at once: Session::run() with it only exchanges hellos, or
/// returns the failure the session already has.
class NothingToDo : public SessionHandler {
 public:
  void produce(Session&) override {}
  void on_frame(Session& session, Frame&) override { session.protocol_error("unexpected frame"); }
  bool finished() const override { return true; }
};

class SettledLog : public PutPipeline::Listener {
 public:
  void on_settled(Session&, UploadItem& item) override { settled.push_back(&item); }
  std::vector<UploadItem*> settled;
};

class PutPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ft-put-pipeline-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    pipeline_.reset();
    session_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  /// Opens the session as a server with `capabilities` would answer it,
  /// and a pipeline on it with `chunk_size`.
  void connect(std::uint32_t capabilities, std::uint32_t chunk_size = kChunk) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    session_.emplace(Connection::adopt(fds[0]));
    peer_.reset(fds[1]);
    Bytes hello;
    encode_hello(hello, Hello{.capabilities = capabilities});
    ASSERT_EQ(::write(peer_.get(), hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
    NothingToDo hello_only;
    ASSERT_EQ(session_->run(hello_only), std::nullopt);
    ASSERT_TRUE(session_->hello_received());
    ASSERT_TRUE(wire().empty());
    ASSERT_TRUE(client_hello_seen_);
    settings_.chunk_size = chunk_size;
    pipeline_.emplace(settings_, report_, log_, next_id_);
  }

  /// Writes a source file with `content`, mode 0640 and kMtimeNs.
  std::string make_source(const std::string& name, const Bytes& content) {
    const std::string path = (dir_ / name).string();
    Fd fd(::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd) << std::strerror(errno);
    EXPECT_EQ(write_exact_at(fd.get(), content.data(), content.size(), 0), 0);
    EXPECT_EQ(::fchmod(fd.get(), 0640), 0);
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {kMtimeNs / 1'000'000'000, kMtimeNs % 1'000'000'000}};
    EXPECT_EQ(::futimens(fd.get(), times), 0);
    return path;
  }

  /// An item for a source of `content` named `name`, sent as `remote`.
  UploadItem& add_item(const std::string& name, const Bytes& content) {
    UploadItem& item = items_.emplace_back();
    item.local = make_source(name, content);
    item.remote = "up/" + name;
    return item;
  }

  void start(UploadItem& item) { pipeline_->start(*session_, item); }
  void pump() { pipeline_->pump(*session_); }
  void deliver(const Bytes& encoded) {
    Frame frame = reply_frame(encoded);
    pipeline_->on_frame(*session_, frame);
  }
  void put_ready(const UploadItem& item, std::uint64_t offset,
                 std::optional<Hash128> prefix = std::nullopt) {
    Bytes out;
    encode_put_ready(out, item.id, PutReadyMsg{offset, prefix});
    deliver(out);
  }
  void ok(const UploadItem& item) {
    Bytes out;
    encode_ok(out, item.id);
    deliver(out);
  }
  void error(const UploadItem& item, ErrorCode code, std::string path = {},
             std::string message = {}) {
    Bytes out;
    encode_error(out, item.id, ErrorMsg{static_cast<std::uint16_t>(code), path, message});
    deliver(out);
  }

  /// The connection-level failure the session holds, if any.
  std::optional<Error> session_failure() {
    NothingToDo nothing;
    return session_->run(nothing);
  }

  /// Writes out everything the session queued and returns the frames the
  /// server side decodes from it, in wire order.
  std::vector<Frame> wire() {
    std::vector<Frame> frames;
    Connection& connection = session_->connection();
    for (int rounds = 0; rounds < 100000; ++rounds) {
      IoResult result = IoResult::kWouldBlock;
      if (connection.has_output()) result = connection.flush();
      EXPECT_NE(result, IoResult::kError) << std::strerror(connection.last_error());
      const bool read_any = read_peer(frames);
      if (result == IoResult::kError || (!connection.has_output() && !read_any)) break;
    }
    return frames;
  }

  bool read_peer(std::vector<Frame>& frames) {
    bool any = false;
    std::uint8_t buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(peer_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      any = true;
      ByteSpan bytes(buffer, static_cast<std::size_t>(n));
      while (!bytes.empty()) {
        const std::size_t taken = from_client_.feed(bytes);
        bytes = bytes.subspan(taken);
        for (;;) {
          const DecodeStatus status = from_client_.next();
          if (status == DecodeStatus::kNeedMore) break;
          if (status == DecodeStatus::kHello) {
            client_hello_seen_ = true;
          } else if (status == DecodeStatus::kFrame) {
            frames.push_back(from_client_.take_frame());
          } else {
            ADD_FAILURE() << "the client sent bytes that do not decode: "
                          << from_client_.error().reason;
            return any;
          }
        }
        if (taken == 0 && !bytes.empty()) {
          ADD_FAILURE() << "the decoder takes no more bytes";
          return any;
        }
      }
    }
    return any;
  }

  std::filesystem::path dir_;
  client::TransferReport report_{
      client::ReportOptions{.program = "ftsend", .verbosity = client::Verbosity::kQuiet}};
  SettledLog log_;
  std::uint32_t next_id_ = 1;
  UploadSettings settings_;
  std::optional<Session> session_;
  std::optional<PutPipeline> pipeline_;
  std::deque<UploadItem> items_;  // addresses stay put while in flight
  Fd peer_;
  FrameDecoder from_client_{FrameDecoder::Options{.sender = Sender::kClient, .expect_hello = true}};
  bool client_hello_seen_ = false;
};

// ------------------------------------------------------------ the PUT

TEST_F(PutPipelineTest, PutDescribesTheSourceAndTakesTheNextId) {
  connect(0);
  const Bytes a = content_of(10000);
  UploadItem& first = add_item("a", a);
  UploadItem& second = add_item("b", content_of(5, 2));
  start(first);
  start(second);
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(second.id, 2u);
  EXPECT_EQ(next_id_, 3u);
  EXPECT_EQ(pipeline_->in_flight(), 2u);
  EXPECT_TRUE(pipeline_->owns(1));
  EXPECT_TRUE(pipeline_->owns(2));
  EXPECT_EQ(first.state, UploadState::kPutSent);
  pump();  // nothing to stream before PUT_READY
  const auto frames = wire();
  ASSERT_EQ(describe(frames), (std::vector<std::string>{"PUT 1 up/a", "PUT 2 up/b"}));
  auto put = decode_put(frames[0].payload);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->size, a.size());
  EXPECT_EQ(put->mode & 07777, 0640u);
  EXPECT_EQ(put->mtime_ns, kMtimeNs);
  EXPECT_EQ(put->chunk_size, kChunk);
  EXPECT_EQ(put->put_flags, 0u) << "neither RESUME nor EAGER was agreed";
  EXPECT_TRUE(put->source_id.empty());
  EXPECT_TRUE(log_.settled.empty());
}

TEST_F(PutPipelineTest, PutIsResumableWhenResumeWasAgreed) {
  connect(kCapResume);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  const auto frames = wire();
  ASSERT_EQ(frames.size(), 1u);
  auto put = decode_put(frames[0].payload);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->put_flags, kPutResumable);
  struct stat st;
  ASSERT_EQ(::stat(item.local.c_str(), &st), 0);
  EXPECT_EQ(put->source_id, client::source_id_for(st.st_dev, st.st_ino));
}

TEST_F(PutPipelineTest, ASmallFileGoesEagerlyALargeOneWaitsForPutReady) {
  connect(kCapResume | kCapEager);
  const Bytes small = content_of(kChunk);  // one chunk at most: eager
  const Bytes large = content_of(kChunk + 1, 2);
  UploadItem& eager = add_item("small", small);
  UploadItem& waiting = add_item("large", large);
  start(eager);
  start(waiting);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"PUT 1 up/small", "PUT 2 up/large",
                                                        "DATA 1 @0+4096", "END 1 4096"}));
  expect_faithful(frames, 1, small);
  EXPECT_EQ(decode_put(frames[0].payload)->put_flags, kPutEager);
  EXPECT_TRUE(decode_put(frames[0].payload)->source_id.empty());
  EXPECT_EQ(decode_put(frames[1].payload)->put_flags, kPutResumable);
  EXPECT_EQ(eager.state, UploadState::kEndSent);
  EXPECT_EQ(waiting.state, UploadState::kPutSent);
  ok(eager);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(log_.settled[0], &eager);
  EXPECT_EQ(eager.state, UploadState::kDone);
  EXPECT_FALSE(eager.failure);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, AnUnreadableSourceSettlesAtOnceWithoutAPut) {
  connect(0);
  UploadItem& item = items_.emplace_back();
  item.local = (dir_ / "missing").string();
  item.remote = "up/missing";
  start(item);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::LOCAL_FILE);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(next_id_, 1u);
  EXPECT_TRUE(wire().empty());
}

// ------------------------------------------------ DATA, END and OK

TEST_F(PutPipelineTest, PutReadyStartsTheDataThenEndAndOkSettles) {
  connect(0);
  const Bytes content = content_of(10000);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 0);
  EXPECT_EQ(item.state, UploadState::kStreaming);
  pump();
  EXPECT_EQ(item.state, UploadState::kEndSent);
  const auto frames = wire();
  EXPECT_EQ(describe(frames),
            (std::vector<std::string>{"PUT 1 up/a", "DATA 1 @0+4096", "DATA 1 @4096+4096",
                                      "DATA 1 @8192+1808", "END 1 10000"}));
  expect_faithful(frames, 1, content);
  EXPECT_TRUE(log_.settled.empty()) << "settled before the server's OK";
  ok(item);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_FALSE(item.failure);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_FALSE(pipeline_->owns(1));
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, AnEmptyFileIsPutThenEnded) {
  connect(0);
  UploadItem& item = add_item("empty", {});
  start(item);
  put_ready(item, 0);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"PUT 1 up/empty", "END 1 0"}));
  expect_faithful(frames, 1, {});
}

TEST_F(PutPipelineTest, UploadsStreamOneAfterAnotherInPutReadyOrder) {
  connect(0);
  const Bytes a = content_of(6000, 1);
  const Bytes b = content_of(3000, 2);
  const Bytes c = content_of(5000, 3);
  UploadItem& first = add_item("a", a);
  UploadItem& second = add_item("b", b);
  UploadItem& third = add_item("c", c);
  start(first);
  start(second);
  start(third);
  put_ready(third, 0);
  put_ready(first, 0);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames),
            (std::vector<std::string>{"PUT 1 up/a", "PUT 2 up/b", "PUT 3 up/c", "DATA 3 @0+4096",
                                      "DATA 3 @4096+904", "END 3 5000", "DATA 1 @0+4096",
                                      "DATA 1 @4096+1904", "END 1 6000"}));
  expect_faithful(frames, 1, a);
  expect_faithful(frames, 3, c);
  EXPECT_EQ(second.state, UploadState::kPutSent);
}

TEST_F(PutPipelineTest, DataWaitsWhileTheSendQueueHoldsItsBudget) {
  // 8 MiB of DATA may wait in the send queue; the rest is read from the
  // source only as the queue drains.
  constexpr std::size_t kMiB = 1024 * 1024;
  connect(0, static_cast<std::uint32_t>(kMiB));
  const Bytes content = content_of(10 * kMiB + 5);
  UploadItem& item = add_item("big", content);
  start(item);
  put_ready(item, 0);
  pump();
  EXPECT_EQ(session_->connection().queued_chunk_bytes(), 8 * kMiB);
  EXPECT_EQ(item.next_offset, 8 * kMiB);
  pump();  // still full: nothing more
  EXPECT_EQ(item.next_offset, 8 * kMiB);
  auto frames = wire();
  EXPECT_EQ(frames.size(), 1u + 8u);
  EXPECT_EQ(session_->connection().queued_chunk_bytes(), 0u);
  pump();
  const auto rest = wire();
  EXPECT_EQ(describe(rest),
            (std::vector<std::string>{"DATA 1 @8388608+1048576", "DATA 1 @9437184+1048576",
                                      "DATA 1 @10485760+5", "END 1 10485765"}));
  frames.insert(frames.end(), rest.begin(), rest.end());
  expect_faithful(frames, 1, content);
}

// ------------------------------------------------ where to start

TEST_F(PutPipelineTest, PutReadyAtAnOffsetSendsTheRestAndHashesTheWholeFile) {
  connect(0);
  const Bytes content = content_of(10000);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 4096);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"PUT 1 up/a", "DATA 1 @4096+4096",
                                                        "DATA 1 @8192+1808", "END 1 10000"}));
  expect_faithful(frames, 1, content);  // END's hash covers the bytes not sent too
}

TEST_F(PutPipelineTest, PutReadyBeyondTheEndIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(100));
  start(item);
  put_ready(item, 101);
  pump();
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 1 up/a"}));
}

TEST_F(PutPipelineTest, ResumeContinuesWhereThePrefixHashMatches) {
  connect(kCapResume);
  const Bytes content = content_of(10000);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 8192, hash_of_prefix(content, 8192));
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames),
            (std::vector<std::string>{"PUT 1 up/a", "DATA 1 @8192+1808", "END 1 10000"}));
  expect_faithful(frames, 1, content);
}

TEST_F(PutPipelineTest, ResumeStartsOverWhenThePrefixHashDiffers) {
  connect(kCapResume);
  const Bytes content = content_of(10000);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 8192, hash_of_prefix(content, 8191));
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames),
            (std::vector<std::string>{"PUT 1 up/a", "DATA 1 @0+4096", "DATA 1 @4096+4096",
                                      "DATA 1 @8192+1808", "END 1 10000"}));
  expect_faithful(frames, 1, content);
  EXPECT_EQ(session_failure(), std::nullopt);
}

// --------------------------------------------------------- rewinds

TEST_F(PutPipelineTest, ARewindDropsUnsentDataAndResendsFromItsOffset) {
  connect(kCapResume);
  const Bytes content = content_of(4 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 1 up/a"}));
  put_ready(item, 0, hash_of_prefix(content, 0));
  pump();  // all of it queued, none of it written yet
  EXPECT_EQ(item.state, UploadState::kEndSent);
  put_ready(item, 2 * kChunk, hash_of_prefix(content, 2 * kChunk));
  EXPECT_EQ(item.state, UploadState::kStreaming);
  EXPECT_EQ(item.rewinds, 1);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames),
            (std::vector<std::string>{"DATA 1 @8192+4096", "DATA 1 @12288+4096", "END 1 16384"}));
  expect_faithful(frames, 1, content);
  ok(item);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_FALSE(item.failure);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, ARewindWhosePrefixDiffersCancels) {
  connect(kCapResume);
  const Bytes content = content_of(3 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 0, hash_of_prefix(content, 0));
  pump();
  EXPECT_EQ(wire().size(), 5u);  // PUT, 3 DATA, END
  put_ready(item, kChunk, hash_of_prefix(content, kChunk - 1));
  EXPECT_EQ(item.state, UploadState::kCancelling);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::CHECKSUM_MISMATCH);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"CANCEL 1"}));
  EXPECT_TRUE(log_.settled.empty()) << "settled before the server answered the CANCEL";
  // The server acknowledges the CANCEL with an ERROR: the upload keeps the
  // failure it was reported with.
  error(item, ErrorCode::CANCELLED);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::CHECKSUM_MISMATCH);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, ARewindBeyondWhatWasSentCancels) {
  connect(kCapResume);
  const Bytes content = content_of(3 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  EXPECT_EQ(wire().size(), 1u);
  put_ready(item, 0, hash_of_prefix(content, 0));
  // Nothing queued yet: a rewind to 4096 asks for data never sent.
  put_ready(item, kChunk, hash_of_prefix(content, kChunk));
  EXPECT_EQ(item.state, UploadState::kCancelling);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::CHECKSUM_MISMATCH);
  pump();
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"CANCEL 1"}));
}

TEST_F(PutPipelineTest, TheClientGivesUpAfterEightRewinds) {
  connect(kCapResume);
  const Bytes content = content_of(kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  EXPECT_EQ(wire().size(), 1u);
  put_ready(item, 0, hash_of_prefix(content, 0));
  for (int rewind = 1; rewind <= 8; ++rewind) {
    pump();
    put_ready(item, 0, hash_of_prefix(content, 0));
    ASSERT_EQ(item.state, UploadState::kStreaming) << "rewind " << rewind;
  }
  pump();
  put_ready(item, 0, hash_of_prefix(content, 0));
  EXPECT_EQ(item.state, UploadState::kCancelling);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::CHECKSUM_MISMATCH);
  const auto frames = describe(wire());
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back(), "CANCEL 1");
}

TEST_F(PutPipelineTest, ASecondPutReadyWithoutResumeIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(100));
  start(item);
  put_ready(item, 0);
  pump();
  put_ready(item, 0);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
}

// ------------------------------------------------------------ errors

TEST_F(PutPipelineTest, BusyOrShuttingDownDefersTheUploadToAnotherConnection) {
  connect(0);
  UploadItem& busy = add_item("a", content_of(3 * kChunk, 1));
  UploadItem& stopping = add_item("b", content_of(10, 2));
  start(busy);
  start(stopping);
  EXPECT_EQ(wire().size(), 2u);
  put_ready(busy, 0);
  pump();  // DATA queued, not written
  error(busy, ErrorCode::BUSY);
  error(stopping, ErrorCode::SHUTTING_DOWN);
  EXPECT_TRUE(wire().empty()) << "the deferred upload's unsent frames were dropped";
  ASSERT_EQ(log_.settled.size(), 2u);
  EXPECT_EQ(busy.state, UploadState::kRetryLater);
  ASSERT_TRUE(busy.retry_reason);
  EXPECT_EQ(busy.retry_reason->code, ErrorCode::BUSY);
  EXPECT_FALSE(busy.failure);
  EXPECT_EQ(stopping.state, UploadState::kRetryLater);
  EXPECT_EQ(stopping.retry_reason->code, ErrorCode::SHUTTING_DOWN);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
  // The next connection starts it afresh, from the same open source.
  busy.reset_for_retry();
  EXPECT_EQ(busy.state, UploadState::kWaiting);
  EXPECT_EQ(busy.id, 0u);
  EXPECT_EQ(busy.next_offset, 0u);
  EXPECT_TRUE(busy.source.has_value());
}

TEST_F(PutPipelineTest, AnErrorReplyFailsTheUploadAndDropsItsUnsentData) {
  connect(0);
  UploadItem& item = add_item("a", content_of(3 * kChunk));
  start(item);
  EXPECT_EQ(wire().size(), 1u);
  put_ready(item, 0);
  pump();
  error(item, ErrorCode::NO_SPACE, "up/a", "disk full\x1b[2J");
  EXPECT_TRUE(wire().empty());
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::NO_SPACE);
  EXPECT_EQ(item.failure->path, "up/a");
  EXPECT_EQ(item.failure->message.find('\x1b'), std::string::npos) << "made printable";
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, AnErrorWithALocalOnlyCodeIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  error(item, ErrorCode::LOCAL_FILE);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
  EXPECT_TRUE(log_.settled.empty());
}

TEST_F(PutPipelineTest, AnErrorAboutAnotherPathIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  error(item, ErrorCode::NOT_FOUND, "elsewhere");
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
  EXPECT_TRUE(log_.settled.empty());
}

TEST_F(PutPipelineTest, OkBeforeEndIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  ok(item);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
  EXPECT_TRUE(log_.settled.empty());
}

TEST_F(PutPipelineTest, AReplyForAnUnknownRequestIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  EXPECT_FALSE(pipeline_->owns(7));
  Bytes out;
  encode_ok(out, 7);
  deliver(out);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
}

TEST_F(PutPipelineTest, AFrameNoUploadExpectsIsAProtocolError) {
  connect(0);
  UploadItem& item = add_item("a", content_of(10));
  start(item);
  Bytes out;
  encode_get_ready(out, item.id, GetReadyMsg{});
  deliver(out);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::PROTOCOL);
}

// ------------------------------------------------ local failures

TEST_F(PutPipelineTest, ASourceThatChangedWhileSentIsCancelledNotEnded) {
  connect(0);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  EXPECT_EQ(wire().size(), 1u);
  put_ready(item, 0);
  {
    // Someone appends to the file while it is being sent.
    Fd fd(::open(item.local.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), "more", 4), 4);
  }
  pump();
  EXPECT_EQ(item.state, UploadState::kCancelling);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::SOURCE_CHANGED);
  // Its queued DATA never leaves; no END claims the file complete.
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"CANCEL 1"}));
  error(item, ErrorCode::CANCELLED);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_EQ(item.failure->code, ErrorCode::SOURCE_CHANGED);
}

TEST_F(PutPipelineTest, RepliesThatCrossTheCancelKeepTheFailure) {
  connect(0);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  put_ready(item, 0);
  {
    Fd fd(::open(item.local.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), "more", 4), 4);
  }
  pump();
  ASSERT_EQ(item.state, UploadState::kCancelling);
  // A PUT_READY (a rewind) and the OK of a commit that beat the CANCEL:
  // neither revives the upload nor breaks the protocol.
  put_ready(item, 0);
  EXPECT_EQ(item.state, UploadState::kCancelling);
  ok(item);
  ASSERT_EQ(log_.settled.size(), 1u);
  EXPECT_EQ(item.state, UploadState::kDone);
  ASSERT_TRUE(item.failure);
  EXPECT_EQ(item.failure->code, ErrorCode::SOURCE_CHANGED);
  EXPECT_EQ(session_failure(), std::nullopt);
}

}  // namespace
}  // namespace ft::test
