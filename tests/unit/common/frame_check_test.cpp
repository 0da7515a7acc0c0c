// FRAME_CHECK (docs/protocol.md section 3.1): every message type with its
// check block decodes under every feed plan to the same frames as without
// it, and one bit flipped anywhere in a checked stream is caught: by the
// check block, or, in DATA's bytes, by the chunk hash the block leaves them
// to. Never a frame that decodes to something else.
#include "common/wire/frame_check.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/wire/messages.hpp"
#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

constexpr std::int64_t kMtime = 1'700'000'000'000'000'000;

/// Every frame type a client sends, unchecked, back to back.
Bytes client_frames() {
  Bytes out;
  encode_put(out, 1, PutMsg{"dir/name.txt", 3, 0640, kMtime, limits::kMinChunkSize, 0, {}});
  encode_data(out, 1, 0, Bytes{'a', 'b', 'c'});
  encode_end(out, 1, EndMsg{3, hash128(Bytes{'a', 'b', 'c'})});
  encode_get(out, 2, GetMsg{"some/file", 12345});
  encode_list(out, 3, PathMsg{"a"}, kFlagHashes);
  encode_stat(out, 4, PathMsg{"a/b"});
  encode_mkdir(out, 5, MkdirMsg{"a/b/c", 0750, kMtime, kMkdirSetMtime});
  encode_symlink(out, 6, SymlinkMsg{"a/l", "b/c", kMtime});
  encode_cancel(out, 2);
  // A large DATA: received in place, its bytes covered by the chunk hash.
  encode_data(out, 7, 0, pattern_bytes(300 * 1024, 5));
  return out;
}

/// Every frame type the server sends, unchecked, back to back.
Bytes server_frames() {
  Bytes out;
  encode_put_ready(out, 1, PutReadyMsg{0, std::nullopt});
  encode_ok(out, 1);
  encode_get_ready(out, 2, GetReadyMsg{3, kMtime, 0644, limits::kDefaultChunkSize});
  encode_data(out, 2, 0, Bytes{'x', 'y', 'z'});
  encode_end(out, 2, EndMsg{3, hash128(Bytes{'x', 'y', 'z'})});
  encode_entries(out, 3,
                 {Entry{"f", EntryType::kFile, 3, kMtime, 0644, {}, {}, {}},
                  Entry{"d", EntryType::kDirectory, 0, kMtime, 0755, {}, {}, {}}});
  encode_error(out, 4, ErrorMsg{4, "a/b", "No such file or directory"});
  encode_error(out, 0, ErrorMsg{27, "", "frame check failed"});
  return out;
}

/// A stream as a peer that agreed FRAME_CHECK writes it: the hello, then the
/// frames with their check blocks.
Bytes checked_stream(const Bytes& frames, std::uint32_t capabilities) {
  Bytes out;
  encode_hello(out, Hello{.capabilities = capabilities});
  const Bytes checked = add_frame_checks(frames);
  out.insert(out.end(), checked.begin(), checked.end());
  return out;
}

FrameDecoder::Options checking(Sender sender) {
  FrameDecoder::Options options = options_for(sender);
  options.frame_check = true;
  return options;
}

/// The frames decoded without checks, for comparison.
std::vector<Frame> plain_decode(const Bytes& frames, Sender sender) {
  FrameDecoder::Options options = options_for(sender);
  options.expect_hello = false;
  DecodeRun run = run_decoder(frames, options, FeedPlan{});
  EXPECT_FALSE(run.error.has_value());
  return std::move(run.frames);
}

void expect_same_frames(const std::vector<Frame>& got, const std::vector<Frame>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(got[i].header.type, want[i].header.type);
    EXPECT_EQ(got[i].header.flags, want[i].header.flags);
    EXPECT_EQ(got[i].header.request_id, want[i].header.request_id);
    EXPECT_EQ(got[i].header.payload_length, want[i].header.payload_length);
    EXPECT_TRUE(got[i].payload == want[i].payload);
  }
}

class FrameCheckRoundTrip : public ::testing::TestWithParam<FeedPlan> {};

TEST_P(FrameCheckRoundTrip, ClientToServer) {
  const Bytes frames = client_frames();
  const Bytes stream = checked_stream(frames, kCapFrameCheckPair);
  DecodeRun run = run_decoder(stream, checking(Sender::kClient), GetParam());
  ASSERT_FALSE(run.error.has_value()) << run.error->reason;
  EXPECT_EQ(run.finish_status, DecodeStatus::kNeedMore);
  ASSERT_EQ(run.hellos.size(), 1u);
  expect_same_frames(run.frames, plain_decode(frames, Sender::kClient));
  // Each frame is 8 bytes longer on the wire than without the check.
  ASSERT_FALSE(run.item_end_offsets.empty());
  EXPECT_EQ(run.item_end_offsets.back(), stream.size());
  EXPECT_EQ(stream.size(),
            limits::kHelloSize + frames.size() + run.frames.size() * limits::kFrameCheckSize);
}

TEST_P(FrameCheckRoundTrip, ServerToClient) {
  const Bytes frames = server_frames();
  const Bytes stream = checked_stream(frames, kCapFrameCheckPair | kCapResume);
  DecodeRun run = run_decoder(stream, checking(Sender::kServer), GetParam());
  ASSERT_FALSE(run.error.has_value()) << run.error->reason;
  expect_same_frames(run.frames, plain_decode(frames, Sender::kServer));
}

INSTANTIATE_TEST_SUITE_P(Plans, FrameCheckRoundTrip, ::testing::ValuesIn(all_feed_plans()),
                         [](const auto& info) { return plan_name(info.param); });

/// True if a DATA frame's bytes no longer match its chunk hash: the receiver
/// refuses the chunk (CHECKSUM_MISMATCH, or a rewind).
bool chunk_hash_fails(const Frame& frame) {
  if (frame.header.type != FrameType::kData) return false;
  auto data = decode_data(frame.payload);
  return !data || hash64(data->bytes) != data->chunk_hash;
}

/// Flips every bit after the hello of a checked stream, one at a time, and
/// checks the outcome under `plan`: the decoder fails with kFrameCheck, or
/// the flip lies in a DATA frame's bytes and its chunk hash fails; the
/// frames before the flip come out intact, nothing changed ever does.
void flip_every_bit(const Bytes& frames, Sender sender, const FeedPlan& plan) {
  const Bytes stream = checked_stream(frames, kCapFrameCheckPair);
  const std::vector<Frame> want = plain_decode(frames, sender);
  for (std::size_t at = limits::kHelloSize; at < stream.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes damaged = stream;
      damaged[at] ^= static_cast<std::uint8_t>(1u << bit);
      DecodeRun run = run_decoder(damaged, checking(sender), plan);
      SCOPED_TRACE("byte " + std::to_string(at) + " bit " + std::to_string(bit));
      ASSERT_LE(run.frames.size(), want.size());
      std::size_t changed = 0;
      for (std::size_t i = 0; i < run.frames.size(); ++i) {
        const Frame& got = run.frames[i];
        const bool same = got.header.type == want[i].header.type &&
                          got.header.request_id == want[i].header.request_id &&
                          got.header.flags == want[i].header.flags &&
                          got.payload == want[i].payload;
        if (same) continue;
        ++changed;
        EXPECT_TRUE(chunk_hash_fails(got)) << "frame " << i << " decoded changed and unnoticed";
      }
      if (run.error) {
        EXPECT_EQ(run.error->kind, DecodeErrorKind::kFrameCheck) << run.error->reason;
        EXPECT_EQ(changed, 0u);
      } else {
        EXPECT_EQ(changed, 1u) << "a flipped bit went through unnoticed";
      }
    }
  }
}

// Small frames keep the stream short: 8 runs per byte.
Bytes small_client_frames() {
  Bytes out;
  encode_put(out, 1, PutMsg{"a/x", 3, 0644, kMtime, limits::kMinChunkSize, 0, {}});
  encode_data(out, 1, 0, Bytes{'a', 'b', 'c'});
  encode_end(out, 1, EndMsg{3, hash128(Bytes{'a', 'b', 'c'})});
  encode_get(out, 2, GetMsg{"a/x", 1});
  encode_list(out, 3, PathMsg{"a"}, 0);
  encode_stat(out, 4, PathMsg{"a"});
  encode_mkdir(out, 5, MkdirMsg{"a/b", 0755, kMtime, 0});
  encode_symlink(out, 6, SymlinkMsg{"a/l", "x", kMtime});
  encode_cancel(out, 2);
  return out;
}

TEST(FrameCheckFlips, EveryBitOfEveryClientFrameIsCaught) {
  for (Split split : {Split::kWhole, Split::kByteByByte}) {
    flip_every_bit(small_client_frames(), Sender::kClient, FeedPlan{split, 0, Input::kFeed});
  }
}

TEST(FrameCheckFlips, EveryBitOfEveryServerFrameIsCaught) {
  Bytes frames;
  encode_put_ready(frames, 1, PutReadyMsg{0, std::nullopt});
  encode_ok(frames, 1);
  encode_get_ready(frames, 2, GetReadyMsg{3, kMtime, 0644, limits::kDefaultChunkSize});
  encode_data(frames, 2, 0, Bytes{'x', 'y', 'z'});
  encode_end(frames, 2, EndMsg{3, hash128(Bytes{'x', 'y', 'z'})});
  encode_entries(frames, 3, {Entry{"f", EntryType::kFile, 3, kMtime, 0644, {}, {}, {}}});
  encode_error(frames, 4, ErrorMsg{4, "a", "gone"});
  for (Split split : {Split::kWhole, Split::kRandom}) {
    flip_every_bit(frames, Sender::kServer, FeedPlan{split, 7, Input::kWriteArea});
  }
}

// A damaged payload_length is caught at the header, before the decoder
// waits for bytes that would never come.
TEST(FrameCheckFlips, DamagedLengthIsCaughtBeforeThePayload) {
  Bytes frames;
  encode_stat(frames, 4, PathMsg{"a"});
  Bytes stream = checked_stream(frames, kCapFrameCheckPair);
  stream[limits::kHelloSize + 11] ^= 0x10;  // payload_length 3 -> 19
  stream.resize(limits::kHelloSize + limits::kFrameHeaderSize + limits::kFrameCheckSize);
  DecodeRun run = run_decoder(stream, checking(Sender::kClient), FeedPlan{}, false);
  ASSERT_TRUE(run.error.has_value());
  EXPECT_EQ(run.error->kind, DecodeErrorKind::kFrameCheck);
  EXPECT_EQ(run.error->offset, limits::kHelloSize + limits::kFrameHeaderSize);
}

// Errors stay sticky and located; the check is on only from set_frame_check.
TEST(FrameCheckDecoder, SwitchedOnAfterTheHelloAndSticky) {
  Bytes stream;
  encode_hello(stream, Hello{.capabilities = kCapFrameCheckPair});
  const Bytes checked = add_frame_checks(small_client_frames());
  stream.insert(stream.end(), checked.begin(), checked.end());
  FrameDecoder decoder(options_for(Sender::kClient));
  ASSERT_EQ(decoder.feed(stream), stream.size());
  ASSERT_EQ(decoder.next(), DecodeStatus::kHello);
  EXPECT_FALSE(decoder.frame_check());
  EXPECT_EQ(decoder.header_size(), limits::kFrameHeaderSize);
  decoder.set_frame_check(true);
  EXPECT_EQ(decoder.header_size(), limits::kFrameHeaderSize + limits::kFrameCheckSize);
  ASSERT_EQ(decoder.next(), DecodeStatus::kFrame);
  EXPECT_EQ(decoder.take_frame().header.type, FrameType::kPut);

  // The same stream read without the check takes the check block for the
  // payload: the PUT that comes out is not the one sent.
  FrameDecoder unchecked(options_for(Sender::kClient));
  ASSERT_EQ(unchecked.feed(stream), stream.size());
  ASSERT_EQ(unchecked.next(), DecodeStatus::kHello);
  Bytes put;
  encode_put(put, 1, PutMsg{"a/x", 3, 0644, kMtime, limits::kMinChunkSize, 0, {}});
  if (unchecked.next() == DecodeStatus::kFrame) {
    EXPECT_FALSE(unchecked.take_frame().payload ==
                 Bytes(put.begin() + limits::kFrameHeaderSize, put.end()));
  }

  // A damaged payload: refused, and the refusal sticks.
  Bytes damaged = stream;
  damaged[limits::kHelloSize + 20 + 4] ^= 1;  // "a/x" -> "a/y"
  FrameDecoder refusing(checking(Sender::kClient));
  ASSERT_EQ(refusing.feed(damaged), damaged.size());
  ASSERT_EQ(refusing.next(), DecodeStatus::kHello);
  ASSERT_EQ(refusing.next(), DecodeStatus::kError);
  EXPECT_EQ(refusing.error().kind, DecodeErrorKind::kFrameCheck);
  EXPECT_EQ(refusing.error().offset, limits::kHelloSize + 20);
  EXPECT_NE(refusing.error().reason.find("PUT"), std::string::npos) << refusing.error().reason;
  EXPECT_EQ(refusing.next(), DecodeStatus::kError);
  EXPECT_EQ(refusing.finish(), DecodeStatus::kError);
  EXPECT_EQ(refusing.feed(damaged), 0u);
}

TEST(FrameCheckHello, BothBitsOrNeither) {
  EXPECT_EQ(frame_check_offer(0), FrameCheckOffer::kAbsent);
  EXPECT_EQ(frame_check_offer(kCapResume | kCapTrees | kCapEager), FrameCheckOffer::kAbsent);
  EXPECT_EQ(frame_check_offer(kCapFrameCheckPair), FrameCheckOffer::kOffered);
  EXPECT_EQ(frame_check_offer(0xFFFFFFFF), FrameCheckOffer::kOffered);
  EXPECT_EQ(frame_check_offer(kCapFrameCheck), FrameCheckOffer::kCorrupted);
  EXPECT_EQ(frame_check_offer(kCapFrameCheckConfirm | kCapResume), FrameCheckOffer::kCorrupted);
  // Every single bit flipped in an offering hello's capabilities either
  // leaves the offer intact (another capability) or makes it corrupted:
  // never a silent "absent".
  const std::uint32_t offered = kCapResume | kCapTrees | kCapEager | kCapFrameCheckPair;
  for (int bit = 0; bit < 32; ++bit) {
    EXPECT_NE(frame_check_offer(offered ^ (1u << bit)), FrameCheckOffer::kAbsent) << bit;
  }
  EXPECT_EQ(kKnownCapabilities & kCapFrameCheckPair, kCapFrameCheckPair);
}

TEST(FrameCheckEncoder, InsertsTheBlockAndRefusesCutFrames) {
  Bytes frame;
  encode_ok(frame, 1);
  const Bytes checked = add_frame_checks(frame);
  ASSERT_EQ(checked.size(), limits::kFrameHeaderSize + limits::kFrameCheckSize);
  EXPECT_EQ(load_be32(checked.data() + 12), header_check(frame.data()));
  EXPECT_EQ(load_be32(checked.data() + 16), static_cast<std::uint32_t>(hash64(ByteSpan{})));
  EXPECT_THROW(add_frame_checks(ByteSpan(frame).first(5)), std::invalid_argument);
  Bytes put;
  encode_put(put, 1, PutMsg{"a", 0, 0644, 0, limits::kMinChunkSize, 0, {}});
  EXPECT_THROW(add_frame_checks(ByteSpan(put).first(put.size() - 1)), std::invalid_argument);
  EXPECT_TRUE(add_frame_checks(ByteSpan{}).empty());

  // A DATA head gets the same block as the whole DATA frame.
  const Bytes bytes = pattern_bytes(5000, 2);
  Bytes whole;
  encode_data(whole, 9, 4096, bytes);
  Bytes head(kDataHeadSize);
  encode_data_head(head.data(), 9, 4096, hash64(bytes), static_cast<std::uint32_t>(bytes.size()));
  const Bytes checked_head = add_data_head_check(head);
  const Bytes checked_whole = add_frame_checks(whole);
  ASSERT_EQ(checked_head.size(), kDataHeadSize + limits::kFrameCheckSize);
  EXPECT_TRUE(std::equal(checked_head.begin(), checked_head.end(), checked_whole.begin()));
  EXPECT_THROW(add_data_head_check(ByteSpan(head).first(12)), std::invalid_argument);
}

}  // namespace
}  // namespace ft::test
