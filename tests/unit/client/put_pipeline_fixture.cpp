// The server's side of a client Session for the PutPipeline tests (see
// put_pipeline_fixture.hpp).
#include "put_pipeline_fixture.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/net/connection.hpp"
#include "common/os/exact_io.hpp"

namespace ft::test {
namespace {

using client::Connection;
using client::IoResult;
using client::Session;
using client::SessionHandler;
using client::UploadItem;

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

}  // namespace

/// Recognisable bytes, different in every chunk.
Bytes content_of(std::size_t size, unsigned seed) {
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
/// "COPY 1 @0+4096 from 8192", "CANCEL 1".
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
    case FrameType::kCopy: {
      auto copy = decode_copy(frame.payload);
      if (!copy) return "COPY " + id + " (malformed)";
      return "COPY " + id + " @" + std::to_string(copy->offset) + "+" +
             std::to_string(copy->length) + " from " + std::to_string(copy->basis_offset);
    }
    case FrameType::kGet: {
      auto get = decode_get(frame.payload);
      if (!get) return "GET " + id + " (malformed)";
      return "GET " + id + " " + get->path + " @" + std::to_string(get->offset);
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

void PutPipelineTest::SetUp() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "ft-put-pipeline-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
  dir_ = pattern;
}

void PutPipelineTest::TearDown() {
  pipeline_.reset();
  session_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void PutPipelineTest::connect(std::uint32_t capabilities, std::uint32_t chunk_size) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  session_.emplace(Connection::adopt(Fd(fds[0])));
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

std::string PutPipelineTest::make_source(const std::string& name, const Bytes& content) {
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

UploadItem& PutPipelineTest::add_item(const std::string& name, const Bytes& content) {
  UploadItem& item = items_.emplace_back();
  item.local = make_source(name, content);
  item.remote = "up/" + name;
  return item;
}

void PutPipelineTest::deliver(const Bytes& encoded) {
  Frame frame = reply_frame(encoded);
  pipeline_->on_frame(*session_, frame);
}

void PutPipelineTest::put_ready(const UploadItem& item, std::uint64_t offset,
                                std::optional<Hash128> prefix) {
  Bytes out;
  encode_put_ready(out, item.id, PutReadyMsg{offset, prefix});
  deliver(out);
}

void PutPipelineTest::ok(const UploadItem& item) {
  Bytes out;
  encode_ok(out, item.id);
  deliver(out);
}

void PutPipelineTest::error(const UploadItem& item, ErrorCode code, std::string path,
                            std::string message) {
  Bytes out;
  encode_error(out, item.id, ErrorMsg{static_cast<std::uint16_t>(code), path, message});
  deliver(out);
}

std::optional<Error> PutPipelineTest::session_failure() {
  // run() returns a failure the session holds before it polls; without
  // one, the handler is finished at once.
  NothingToDo nothing;
  return session_->run(nothing);
}

std::vector<Frame> PutPipelineTest::wire() {
  // The socket buffer holds far less than a large upload: write and read
  // in turns until the queue is empty and nothing more arrives.
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

bool PutPipelineTest::read_peer(std::vector<Frame>& frames) {
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

}  // namespace ft::test
