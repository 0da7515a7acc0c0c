// The reply to a GET at offset = size, read by HashProbeReply for both of
// its callers (the probe after BUSY and `ftsend --checksum` in a huge
// directory): each frame it may meet, in each order, and what a hostile
// server sends instead.
#include "client/net/hash_probe_reply.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ft::test {
namespace {

using client::HashProbeReply;
using Step = HashProbeReply::Step;

constexpr std::size_t kHeaderSize = 12;
constexpr std::uint64_t kSize = 4096;

// A frame as the decoder hands it over: the header's type and id, the
// payload after the 12 header bytes that encode_* wrote.
Frame frame_of(FrameType type, const Bytes& encoded) {
  Frame frame;
  frame.header.type = type;
  frame.header.request_id = 3;
  frame.payload.assign(encoded.begin() + kHeaderSize, encoded.end());
  frame.header.payload_length = static_cast<std::uint32_t>(frame.payload.size());
  return frame;
}
Frame get_ready(std::uint64_t size) {
  Bytes out;
  encode_get_ready(out, 3, GetReadyMsg{size, 1, 0640, 1 << 20});
  return frame_of(FrameType::kGetReady, out);
}
Frame end(const Hash128& hash) {
  Bytes out;
  encode_end(out, 3, EndMsg{kSize, hash});
  return frame_of(FrameType::kEnd, out);
}
Frame error(ErrorCode code, const std::string& path) {
  Bytes out;
  encode_error(out, 3, ErrorMsg{static_cast<std::uint16_t>(code), path, "no"});
  return frame_of(FrameType::kError, out);
}
Frame data() {
  Bytes out;
  const Bytes byte{0x41};
  encode_data(out, 3, kSize, byte);
  return frame_of(FrameType::kData, out);
}
const auto by_size = [](const GetReadyMsg& ready) { return ready.size == kSize; };

TEST(HashProbeReply, TheSameSizeAnswersTheHashWithEnd) {
  HashProbeReply reply("up/a");
  EXPECT_EQ(reply.read(get_ready(kSize), by_size), Step::kPending);
  EXPECT_FALSE(reply.finished());
  const Hash128 hash{0x1234, 0x5678};
  EXPECT_EQ(reply.read(end(hash), by_size), Step::kHash);
  EXPECT_TRUE(reply.finished());
  EXPECT_EQ(reply.hash(), hash);
}

TEST(HashProbeReply, AnotherFileIsCancelledOnceAndItsRestSwallowed) {
  HashProbeReply reply("up/a");
  EXPECT_EQ(reply.read(get_ready(kSize + 1), by_size), Step::kCancel);
  EXPECT_TRUE(reply.cancelled());
  // What the server had sent before it read the CANCEL.
  EXPECT_EQ(reply.read(data(), by_size), Step::kPending);
  EXPECT_EQ(reply.read(end(Hash128{1, 2}), by_size), Step::kUnknown);
  EXPECT_TRUE(reply.finished());
}

TEST(HashProbeReply, ACancelledReplyEndingInErrorIsUnknownNotMissing) {
  HashProbeReply reply("up/a");
  EXPECT_EQ(reply.read(get_ready(1), by_size), Step::kCancel);
  EXPECT_EQ(reply.read(error(ErrorCode::NOT_FOUND, "up/a"), by_size), Step::kUnknown);
}

TEST(HashProbeReply, NotFoundIsMissingAndOtherRefusalsUnknown) {
  HashProbeReply missing("up/a");
  EXPECT_EQ(missing.read(error(ErrorCode::NOT_FOUND, "up/a"), by_size), Step::kMissing);
  EXPECT_TRUE(missing.finished());
  HashProbeReply refused("up/a");
  EXPECT_EQ(refused.read(error(ErrorCode::FORBIDDEN, ""), by_size), Step::kUnknown);
}

TEST(HashProbeReply, HostileRepliesAreViolations) {
  HashProbeReply data_past_end("up/a");
  EXPECT_EQ(data_past_end.read(get_ready(kSize), by_size), Step::kPending);
  EXPECT_EQ(data_past_end.read(data(), by_size), Step::kViolation);
  EXPECT_EQ(data_past_end.violation(), "DATA past the end of up/a");

  HashProbeReply other_path("up/a");
  EXPECT_EQ(other_path.read(error(ErrorCode::NOT_FOUND, "up/b"), by_size), Step::kViolation);
  EXPECT_NE(other_path.violation().find("up/b"), std::string::npos);

  HashProbeReply malformed("up/a");
  Frame short_end = end(Hash128{});
  short_end.payload.resize(3);
  EXPECT_EQ(malformed.read(short_end, by_size), Step::kViolation);
  EXPECT_EQ(malformed.violation(), "malformed END");

  HashProbeReply unexpected("up/a");
  Frame ok;
  ok.header.type = FrameType::kOk;
  EXPECT_EQ(unexpected.read(ok, by_size), Step::kViolation);
  EXPECT_EQ(unexpected.violation(), "unexpected OK in reply to GET");
}

}  // namespace
}  // namespace ft::test
