// A delta upload's frames from PutPipeline (put_delta.cpp), the test
// playing the server (put_pipeline_fixture.hpp): the source is matched one
// window per turn of the session's loop, so that the COPY frames of an
// unchanged region leave (and the server copies them) while the rest is
// still being matched.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ft::test
