// PutPipeline without a server, the test playing the server's side of the
// Session (put_pipeline_fixture.hpp): the PUT each source gets, the DATA and
// END that follow (order, offsets, chunk and file hashes), the send-queue
// budget, and where the data starts after PUT_READY. Replies out of the
// happy path are in put_pipeline_reply_test.cpp.
#include "client/transfer/put_pipeline.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "put_pipeline_fixture.hpp"

namespace ft::test {
namespace {

using client::UploadItem;
using client::UploadState;

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
  // 2 MiB of a big file may wait ahead of the socket: with chunks of
  // 1 MiB, one in the send queue and one read ahead on the read-ahead's
  // thread. The rest is read from the source only as the queue drains.
  constexpr std::size_t kMiB = 1024 * 1024;
  connect(0, static_cast<std::uint32_t>(kMiB));
  const Bytes content = content_of(10 * kMiB + 5);
  UploadItem& item = add_item("big", content);
  start(item);
  put_ready(item, 0);
  pump();
  EXPECT_EQ(session_->connection().queued_chunk_bytes(), kMiB);
  EXPECT_EQ(item.next_offset, kMiB);
  pump();  // still full: nothing more
  EXPECT_EQ(item.next_offset, kMiB);
  auto frames = wire();
  EXPECT_EQ(frames.size(), 1u + 1u);
  EXPECT_EQ(session_->connection().queued_chunk_bytes(), 0u);
  pump();
  auto next = wire();
  EXPECT_EQ(describe(next), (std::vector<std::string>{"DATA 1 @1048576+1048576"}));
  frames.insert(frames.end(), next.begin(), next.end());
  // A chunk per drained queue until the end.
  for (int round = 0; round < 16 && item.state != UploadState::kEndSent; ++round) {
    pump();
    next = wire();
    EXPECT_LE(next.size(), 2u);
    frames.insert(frames.end(), next.begin(), next.end());
  }
  EXPECT_EQ(describe(std::vector<Frame>(frames.end() - 2, frames.end())),
            (std::vector<std::string>{"DATA 1 @10485760+5", "END 1 10485765"}));
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

}  // namespace
}  // namespace ft::test
