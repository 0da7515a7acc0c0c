// A compressed upload (COMPRESS, docs/protocol.md 5.15) in the upload
// state machine: its chunks are decompressed by a job on the thread pool,
// never inside the frame handler (which runs on the loop), and the frames
// that follow wait for that job, are then checked in order, and a
// violation among them, or a chunk that does not decompress, fails the
// connection with the same words a handler's refusal gets.
#include "common/wire/chunk_compression.hpp"
#include "upload_machine.hpp"

namespace ft::server::unit {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

/// Compressible text of `size` bytes.
std::string text(std::size_t size, char salt) {
  std::string out;
  for (std::size_t line = 0; out.size() < size; ++line) {
    out += "line " + std::to_string(line) + " of the log, salt " + salt + "\n";
  }
  out.resize(size);
  return out;
}

class CompressedUpload : public UploadMachine {
 protected:
  void SetUp() override {
    UploadMachine::SetUp();
    conn_->compress_ = true;
  }
  PutMsg big_put(std::uint64_t size) {
    PutMsg m = put("z.txt", size);
    m.chunk_size = kChunk;
    return m;
  }
  /// A compressed DATA of `chunk` at `offset`, as the session routes it.
  Frame compressed(std::uint64_t offset, const std::string& chunk, bool damage = false) {
    ChunkCompressor compressor(kDefaultCompressLevel);
    Bytes frame;
    EXPECT_TRUE(compressor.compress(bytes_of(chunk), frame));
    // Cut short: the header (and its declared size) passes the checks on
    // the loop, the frame is found incomplete by the job.
    if (damage) frame.resize(frame.size() - 8);
    Bytes out;
    encode_compressed_data(out, kId, offset, hash64(bytes_of(chunk)), frame);
    return frame_of(out);
  }
  Frame plain(std::uint64_t offset, const std::string& chunk) {
    Bytes out;
    encode_data(out, kId, offset, bytes_of(chunk));
    return frame_of(out);
  }
  Frame end_frame(const std::string& whole) {
    Bytes out;
    encode_end(out, kId, EndMsg{whole.size(), hash128(bytes_of(whole))});
    return frame_of(out);
  }
};

TEST_F(CompressedUpload, ChunkIsInflatedOnThePoolWhileLaterFramesWait) {
  const std::string first = text(kChunk, 'a'), second = text(kChunk / 2, 'b');
  start(big_put(first.size() + second.size()));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  Frame z = compressed(0, first);
  ASSERT_TRUE(upload_->on_frame(z));
  // Not decompressed in the handler: the job holds the compressed frame
  // and room for the chunk in the disk backlog, and the upload waits on it.
  EXPECT_TRUE(upload_->waiting_on_disk());
  EXPECT_GE(conn_->disk_backlog, kChunk);
  // A plain DATA and END behind it wait their turn, counted too.
  Frame p = plain(first.size(), second);
  ASSERT_TRUE(upload_->on_frame(p));
  Frame e = end_frame(first + second);
  ASSERT_TRUE(upload_->on_frame(e));
  EXPECT_GE(conn_->disk_backlog, kChunk + second.size());
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kOk}));
  EXPECT_TRUE(conn_->protocol_errors.empty());
  EXPECT_EQ(conn_->disk_backlog, 0u) << "every charge is given back";
  EXPECT_EQ(content("z.txt"), first + second);
}

TEST_F(CompressedUpload, ViolationBehindACompressedChunkIsReportedInItsTurn) {
  const std::string first = text(kChunk, 'a');
  start(big_put(2 * kChunk));
  run();
  Frame z = compressed(0, first);
  ASSERT_TRUE(upload_->on_frame(z));
  // A gap, refused at once were the chunk plain: here it waits, then fails
  // the connection with the words the session gives a refused frame.
  Frame gap = plain(kChunk + 10, "xyz");
  EXPECT_TRUE(upload_->on_frame(gap));
  EXPECT_TRUE(conn_->protocol_errors.empty());
  run();
  ASSERT_EQ(conn_->protocol_errors.size(), 1u);
  EXPECT_EQ(conn_->protocol_errors[0],
            "DATA for request 7, gap: offset 65546, expected " + std::to_string(kChunk));
  upload_->abort(ErrorCode::PROTOCOL, false);  // as the closing session does
  run();
  EXPECT_EQ(conn_->disk_backlog, 0u);
}

TEST_F(CompressedUpload, ChunkThatDoesNotDecompressFailsTheConnection) {
  const std::string first = text(kChunk, 'a');
  start(big_put(kChunk));
  run();
  Frame z = compressed(0, first, true);
  ASSERT_TRUE(upload_->on_frame(z));
  Frame e = end_frame(first);
  ASSERT_TRUE(upload_->on_frame(e));
  run();
  ASSERT_EQ(conn_->protocol_errors.size(), 1u);
  EXPECT_EQ(conn_->protocol_errors[0], "DATA for request 7, compressed chunk is not a zstd frame");
  upload_->abort(ErrorCode::PROTOCOL, false);
  run();
  EXPECT_EQ(conn_->disk_backlog, 0u);
  EXPECT_EQ(names(), std::set<std::string>{}) << "nothing of the upload is left";
}

TEST_F(CompressedUpload, WrongHashAfterInflatingIsRewoundWithResume) {
  conn_->resume_ = true;
  const std::string first = text(kChunk, 'a');
  start(big_put(kChunk));
  run();
  ChunkCompressor compressor(kDefaultCompressLevel);
  Bytes frame, out;
  ASSERT_TRUE(compressor.compress(bytes_of(first), frame));
  encode_compressed_data(out, kId, 0, hash64(bytes_of(first)) ^ 1, frame);
  Frame bad = frame_of(out);
  ASSERT_TRUE(upload_->on_frame(bad));
  run();
  // Asked again from offset 0 (a second PUT_READY), the connection stays.
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kPutReady}));
  EXPECT_TRUE(conn_->protocol_errors.empty());
  Frame z = compressed(0, first);
  ASSERT_TRUE(upload_->on_frame(z));
  Frame e = end_frame(first);
  ASSERT_TRUE(upload_->on_frame(e));
  run();
  EXPECT_EQ(sent_types().back(), FrameType::kOk);
  EXPECT_EQ(content("z.txt"), first);
}

}  // namespace
}  // namespace ft::server::unit
