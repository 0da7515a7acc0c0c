// The upload state machine (server/requests/upload) driven without a
// socket or a process: a fake connection records what the upload sends, a
// real JobBatcher runs its disk work on libuv's thread pool beneath a
// temporary root, and each test ends by proving the loop closed cleanly.
#include "upload_machine.hpp"

namespace ft::server::unit {
namespace {

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
}  // namespace ft::server::unit
