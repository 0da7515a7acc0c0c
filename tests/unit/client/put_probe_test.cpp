// The probe after BUSY (issue 17): ftsend killed while the server commits
// its upload, the rerun meets BUSY, and by its next PUT the file is
// committed. The retry must recognise it (same size, mtime and XXH3-128)
// and send nothing; any other file at that name is sent as usual.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/transfer/put_pipeline.hpp"
#include "put_pipeline_fixture.hpp"

namespace ft::test {
namespace {

using client::UploadItem;
using client::UploadState;

class PutProbeTest : public PutPipelineTest {
 protected:
  // The first PUT of `item` meets BUSY; the retry's PUT (id 2) is offered
  // offset 0, nothing to resume, so the pipeline asks about the file (id 3).
  void busy_then_nothing_to_resume(UploadItem& item, const Bytes& content) {
    start(item);
    EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 1 up/a"}));
    error(item, ErrorCode::BUSY, "up/a");
    ASSERT_EQ(item.state, UploadState::kRetryLater);
    item.reset_for_retry();
    start(item);
    EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 2 up/a"}));
    put_ready(item, 0, hash_of_prefix(content, 0));
    EXPECT_EQ(item.state, UploadState::kProbing);
    EXPECT_EQ(describe(wire()),
              (std::vector<std::string>{"GET 3 up/a @" + std::to_string(content.size())}));
  }
  void get_ready(std::uint64_t size, std::int64_t mtime_ns) {
    Bytes out;
    encode_get_ready(out, 3, GetReadyMsg{size, mtime_ns, 0640, 1 << 20});
    deliver(out);
  }
  void end(std::uint64_t size, const Hash128& hash) {
    Bytes out;
    encode_end(out, 3, EndMsg{size, hash});
    deliver(out);
  }
};

TEST_F(PutProbeTest, AFileCommittedMeanwhileIsRecognisedAndNothingIsSent) {
  connect(kCapResume);
  const Bytes content = content_of(3 * kChunk + 5);
  UploadItem& item = add_item("a", content);
  ASSERT_NO_FATAL_FAILURE(busy_then_nothing_to_resume(item, content));
  get_ready(content.size(), kMtimeNs);
  end(content.size(), hash128(content));
  EXPECT_EQ(item.state, UploadState::kCancelling);
  pump();
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"CANCEL 2"}));
  error(item, ErrorCode::CANCELLED, "up/a");
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_FALSE(item.failure);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutProbeTest, SameSizeAndMtimeButAnotherHashIsSentWhole) {
  connect(kCapResume);
  const Bytes content = content_of(3 * kChunk);
  UploadItem& item = add_item("a", content);
  ASSERT_NO_FATAL_FAILURE(busy_then_nothing_to_resume(item, content));
  get_ready(content.size(), kMtimeNs);
  end(content.size(), hash128(content_of(3 * kChunk, 2)));
  EXPECT_EQ(item.state, UploadState::kStreaming);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"DATA 2 @0+4096", "DATA 2 @4096+4096",
                                                        "DATA 2 @8192+4096", "END 2 12288"}));
  expect_faithful(frames, 2, content);
  ok(item);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_FALSE(item.failure);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutProbeTest, AnotherMtimeCancelsTheProbeAndSendsTheFile) {
  connect(kCapResume);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  ASSERT_NO_FATAL_FAILURE(busy_then_nothing_to_resume(item, content));
  get_ready(content.size(), kMtimeNs + 1);
  EXPECT_EQ(item.state, UploadState::kStreaming);
  pump();
  const auto frames = wire();
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"CANCEL 3", "DATA 2 @0+4096",
                                                        "DATA 2 @4096+4096", "END 2 8192"}));
  expect_faithful(frames, 2, content);
  // The cancelled probe's last frame is swallowed, whenever it comes.
  Bytes cancelled;
  encode_error(cancelled, 3, ErrorMsg{static_cast<std::uint16_t>(ErrorCode::CANCELLED), "", ""});
  deliver(cancelled);
  ok(item);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_FALSE(item.failure);
  EXPECT_EQ(pipeline_->in_flight(), 0u);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutProbeTest, AMissingFileIsSent) {
  connect(kCapResume);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  ASSERT_NO_FATAL_FAILURE(busy_then_nothing_to_resume(item, content));
  Bytes out;
  encode_error(out, 3, ErrorMsg{static_cast<std::uint16_t>(ErrorCode::NOT_FOUND), "up/a", ""});
  deliver(out);
  EXPECT_EQ(item.state, UploadState::kStreaming);
  pump();
  EXPECT_EQ(describe(wire()),
            (std::vector<std::string>{"DATA 2 @0+4096", "DATA 2 @4096+4096", "END 2 8192"}));
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(PutProbeTest, AProbeCutByALostConnectionIsAskedAgain) {
  connect(kCapResume);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  ASSERT_NO_FATAL_FAILURE(busy_then_nothing_to_resume(item, content));
  // The connection is lost before the answer; the next one asks again.
  item.reset_for_retry();
  pipeline_.emplace(settings_, report_, log_, next_id_);
  start(item);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 4 up/a"}));
  put_ready(item, 0, hash_of_prefix(content, 0));
  EXPECT_EQ(item.state, UploadState::kProbing);
  EXPECT_EQ(describe(wire()),
            (std::vector<std::string>{"GET 5 up/a @" + std::to_string(content.size())}));
  // Answered once, it is not asked again.
  Bytes out;
  encode_error(out, 5, ErrorMsg{static_cast<std::uint16_t>(ErrorCode::NOT_FOUND), "up/a", ""});
  deliver(out);
  EXPECT_FALSE(item.busy_before);
  EXPECT_EQ(item.state, UploadState::kStreaming);
}

TEST_F(PutProbeTest, WithoutABusyNothingIsAsked) {
  connect(kCapResume);
  const Bytes content = content_of(2 * kChunk);
  UploadItem& item = add_item("a", content);
  start(item);
  EXPECT_EQ(describe(wire()), (std::vector<std::string>{"PUT 1 up/a"}));
  put_ready(item, 0, hash_of_prefix(content, 0));
  EXPECT_EQ(item.state, UploadState::kStreaming);
}

}  // namespace
}  // namespace ft::test
