// A delta upload's frames from PutPipeline (put_delta.cpp), the test
// playing the server (put_pipeline_fixture.hpp): the source is matched one
// window per turn of the session's loop, so that the COPY frames of an
// unchanged region leave (and the server copies them) while the rest is
// still being matched. With DELTA_EARLY the DATA starts at PUT_READY and
// the matching where the upload stands once the whole signature came; a
// SIGNATURE where the rules allow none is a protocol error.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/delta/block_signature.hpp"
#include "put_pipeline_fixture.hpp"

namespace ft::test {
namespace {

using client::UploadItem;
using client::UploadState;

constexpr std::size_t kMiB = 1024 * 1024;

TEST_F(PutPipelineTest, ADeltaUploadQueuesOneWindowPerTurnOfTheLoop) {
  settings_.delta = client::DeltaMode::kAlways;
  connect(kCapDeltaPut, static_cast<std::uint32_t>(kMiB));
  // The server's copy: the source with 4 KiB at 6 MiB changed.
  const Bytes content = content_of(12 * kMiB + 5);
  Bytes basis = content;
  for (std::size_t i = 0; i < 4096; ++i) basis[6 * kMiB + i] ^= 0x5a;
  UploadItem& item = add_item("a", content);
  start(item);
  delta::SignatureBuilder builder(basis.size());
  builder.feed(basis);
  for (const delta::SignaturePart& part : builder.parts()) {
    Bytes frame;
    encode_signature(frame, item.id, part);
    deliver(frame);
  }
  put_ready(item, 0);
  pump();
  std::vector<Frame> frames = wire();
  // One window of 4 MiB, all the server's: one COPY, and nothing else yet.
  EXPECT_EQ(describe(frames), (std::vector<std::string>{"PUT 1 up/a", "COPY 1 @0+4194304 from 0"}));
  EXPECT_EQ(item.next_offset, 4 * kMiB);
  pump();
  std::vector<Frame> next = wire();
  EXPECT_EQ(describe(next), (std::vector<std::string>{"COPY 1 @4194304+2097152 from 4194304",
                                                      "DATA 1 @6291456+4096",
                                                      "COPY 1 @6295552+2093056 from 6295552"}));
  frames.insert(frames.end(), next.begin(), next.end());
  for (int round = 0; round < 4 && item.state != UploadState::kEndSent; ++round) {
    pump();
    next = wire();
    frames.insert(frames.end(), next.begin(), next.end());
  }
  ASSERT_EQ(item.state, UploadState::kEndSent);
  EXPECT_EQ(describe(std::vector<Frame>(frames.end() - 3, frames.end())),
            (std::vector<std::string>{"COPY 1 @8388608+4194304 from 8388608", "DATA 1 @12582912+5",
                                      "END 1 12582917"}));
  expect_faithful(frames, 1, content);
  ok(item);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_EQ(session_failure(), std::nullopt);
}

class EarlyDelta : public PutPipelineTest {
 protected:
  /// The source (12 MiB + 5) and the server's copy of it, 4 KiB at 9 MiB
  /// changed.
  void SetUp() override {
    PutPipelineTest::SetUp();
    settings_.delta = client::DeltaMode::kAlways;
    content_ = content_of(12 * kMiB + 5);
    basis_ = content_;
    for (std::size_t i = 0; i < 4096; ++i) basis_[9 * kMiB + i] ^= 0x5a;
  }
  void send_signature(const UploadItem& item, const Bytes& basis) {
    delta::SignatureBuilder builder(basis.size());
    builder.feed(basis);
    for (const delta::SignaturePart& part : builder.parts()) {
      Bytes frame;
      encode_signature(frame, item.id, part);
      deliver(frame);
    }
  }
  /// Pumps and collects the wire until the upload's END is queued.
  void send_rest(UploadItem& item, std::vector<Frame>& frames) {
    for (int round = 0; round < 64 && item.state != UploadState::kEndSent; ++round) {
      pump();
      std::vector<Frame> next = wire();
      frames.insert(frames.end(), next.begin(), next.end());
    }
    ASSERT_EQ(item.state, UploadState::kEndSent);
  }
  static std::size_t count_of(const std::vector<Frame>& frames, FrameType type) {
    return static_cast<std::size_t>(std::count_if(
        frames.begin(), frames.end(), [type](const Frame& f) { return f.header.type == type; }));
  }
  Bytes content_;
  Bytes basis_;
};

TEST_F(EarlyDelta, DataFlowsFromPutReadyAndTheSignatureTurnsTheRestIntoCopies) {
  connect(kCapDeltaPut | kCapDeltaEarly, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  put_ready(item, 0);
  pump();
  std::vector<Frame> frames = wire();
  // No signature yet: plain DATA within the send queue's budget (2 MiB).
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(describe(frames[1]), "DATA 1 @0+1048576");
  EXPECT_EQ(count_of(frames, FrameType::kCopy), 0u);
  const std::uint64_t sent_plain = item.next_offset;
  EXPECT_GT(sent_plain, 0u);
  EXPECT_LT(sent_plain, 9 * kMiB);
  send_signature(item, basis_);
  ASSERT_EQ(session_failure(), std::nullopt);
  ASSERT_TRUE(item.matcher) << "the whole signature starts the matching";
  // The chunks read ahead by then go as DATA first (no more than that).
  const std::uint64_t matched_from = item.next_offset;
  EXPECT_LE(matched_from - sent_plain, client::ReadAhead::kBytesAhead);
  send_rest(item, frames);
  // From where the DATA stopped, the unchanged bytes are COPY frames.
  std::vector<std::string> lines = describe(frames);
  const auto first_copy = std::find_if(lines.begin(), lines.end(),
                                       [](const std::string& l) { return l.starts_with("COPY"); });
  ASSERT_NE(first_copy, lines.end());
  EXPECT_TRUE(first_copy->starts_with("COPY 1 @" + std::to_string(matched_from) + "+"))
      << *first_copy;
  EXPECT_TRUE(first_copy->ends_with(" from " + std::to_string(matched_from))) << *first_copy;
  EXPECT_NE(std::find(lines.begin(), lines.end(), "DATA 1 @9437184+4096"), lines.end());
  expect_faithful(frames, 1, content_);
  ok(item);
  EXPECT_EQ(item.state, UploadState::kDone);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(EarlyDelta, ASignatureOfNoBlockOrAfterTheEndLeavesAPlainUpload) {
  connect(kCapDeltaPut | kCapDeltaEarly, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  put_ready(item, 0);
  pump();
  std::vector<Frame> frames = wire();
  send_signature(item, Bytes{});  // no older copy: one part of no block
  EXPECT_FALSE(item.matcher);
  send_rest(item, frames);
  EXPECT_EQ(count_of(frames, FrameType::kCopy), 0u);
  expect_faithful(frames, 1, content_);
  ok(item);
  EXPECT_EQ(session_failure(), std::nullopt);

  // A signature that comes after the END is of no use, and no error.
  UploadItem& late = add_item("b", content_);
  start(late);
  put_ready(late, 0);
  std::vector<Frame> more = wire();
  send_rest(late, more);
  send_signature(late, basis_);
  EXPECT_FALSE(late.matcher);
  EXPECT_EQ(count_of(more, FrameType::kCopy), 0u);
  ok(late);
  EXPECT_EQ(late.state, UploadState::kDone);
  EXPECT_EQ(session_failure(), std::nullopt);
}

TEST_F(EarlyDelta, ASignatureBeforePutReadyIsAProtocolError) {
  connect(kCapDeltaPut | kCapDeltaEarly, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  send_signature(item, basis_);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_NE(failure->message.find("SIGNATURE for request 1 before its PUT_READY"),
            std::string::npos)
      << failure->message;
}

TEST_F(EarlyDelta, ASecondSignatureIsAProtocolError) {
  connect(kCapDeltaPut | kCapDeltaEarly | kCapResume, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  put_ready(item, 0, hash_of_prefix(content_, 0));
  send_signature(item, basis_);
  ASSERT_EQ(session_failure(), std::nullopt);
  send_signature(item, basis_);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_NE(failure->message.find("not expected"), std::string::npos) << failure->message;
}

TEST_F(EarlyDelta, AResumedUploadGetsNoSignature) {
  connect(kCapDeltaPut | kCapDeltaEarly | kCapResume, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  put_ready(item, 4 * kMiB, hash_of_prefix(content_, 4 * kMiB));
  send_signature(item, basis_);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_NE(failure->message.find("not expected"), std::string::npos) << failure->message;
}

TEST_F(EarlyDelta, WithoutTheCapabilityASignatureAfterPutReadyIsAProtocolError) {
  connect(kCapDeltaPut, static_cast<std::uint32_t>(kMiB));
  UploadItem& item = add_item("a", content_);
  start(item);
  put_ready(item, 0);
  send_signature(item, basis_);
  auto failure = session_failure();
  ASSERT_TRUE(failure);
  EXPECT_NE(failure->message.find("has had its PUT_READY"), std::string::npos) << failure->message;
}

}  // namespace
}  // namespace ft::test
