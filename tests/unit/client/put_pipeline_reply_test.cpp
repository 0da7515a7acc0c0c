// What the server's replies do to PutPipeline's uploads, the test playing
// the server's side of the Session (put_pipeline_fixture.hpp): rewinds,
// ERROR replies (deferred, failed, or refused as a protocol error), replies
// out of turn, and uploads cancelled for a local reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "client/transfer/put_pipeline.hpp"
#include "common/os/fd.hpp"
#include "put_pipeline_fixture.hpp"

namespace ft::test {
namespace {

using client::UploadItem;
using client::UploadState;

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

TEST_F(PutPipelineTest, TooManyUploadsWaitsForOneOfOursToEnd) {
  // The identity's budget is spent (issue 17): the refused upload is sent
  // again on this connection once one of ours ends, and meanwhile no more
  // are opened than the server accepted.
  connect(0);
  UploadItem& first = add_item("a", content_of(10, 1));
  UploadItem& second = add_item("b", content_of(10, 2));
  UploadItem& third = add_item("c", content_of(10, 3));
  start(first);
  start(second);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 1 up/a", "PUT 2 up/b"}));
  error(second, ErrorCode::TOO_MANY_UPLOADS, "up/b");
  EXPECT_EQ(second.state, UploadState::kWaiting);
  EXPECT_TRUE(log_.settled.empty());
  EXPECT_FALSE(pipeline_->has_room()) << "a refused upload waits before any new one";
  EXPECT_EQ(pipeline_->in_flight(), 2u);
  pump();
  EXPECT_TRUE(wire().empty()) << "sent again before a slot was freed";
  put_ready(first, 0);
  pump();
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"DATA 1 @0+10", "END 1 10"}));
  ok(first);
  pump();
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 3 up/b"}));
  put_ready(second, 0);
  pump();
  wire();
  ok(second);
  EXPECT_TRUE(pipeline_->has_room());
  start(third);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 4 up/c"}));
  EXPECT_EQ(second.state, UploadState::kDone);
  EXPECT_FALSE(second.failure);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutPipelineTest, TooManyUploadsWithNoneOfOursOpenDefersToAnotherConnection) {
  // Other connections of the identity hold its budget: nothing here frees
  // a slot, so the uploads are retried on a new connection, like BUSY.
  connect(0);
  UploadItem& first = add_item("a", content_of(10, 1));
  UploadItem& second = add_item("b", content_of(10, 2));
  start(first);
  start(second);
  wire();
  error(first, ErrorCode::TOO_MANY_UPLOADS, "up/a");
  EXPECT_EQ(first.state, UploadState::kWaiting);
  error(second, ErrorCode::TOO_MANY_UPLOADS, "up/b");
  EXPECT_EQ(first.state, UploadState::kRetryLater);
  EXPECT_EQ(second.state, UploadState::kRetryLater);
  ASSERT_TRUE(first.retry_reason);
  EXPECT_EQ(first.retry_reason->code, ErrorCode::TOO_MANY_UPLOADS);
  EXPECT_EQ(log_.settled.size(), 2u);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
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

// An eager upload streams in the same produce() turn as its PUT, before
// anything is written; when its source changed by then, the PUT must still
// go out before the CANCEL. (It was dropped with the request's other unsent
// frames, and the server, which ignores a CANCEL for an unknown request,
// never answered: the upload waited until the idle timeout.)
TEST_F(PutPipelineTest, AnEagerUploadCancelledBeforeItsPutWasWrittenStillSendsThePut) {
  connect(kCapEager);
  UploadItem& item = add_item("small", content_of(100));
  start(item);
  {
    // Changed after it was opened, before its data was read.
    Fd fd(::open(item.local.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), "more", 4), 4);
  }
  pump();  // in the same produce() turn as the PUT, as UploadJob does
  ASSERT_EQ(item.state, UploadState::kCancelling);
  const auto frames = describe(wire());
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front(), "PUT 1 up/small") << "a CANCEL for a request the server never saw";
  EXPECT_EQ(frames.back(), "CANCEL 1");
}

}  // namespace
}  // namespace ft::test
