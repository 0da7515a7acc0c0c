// Delta transfers in common/ (docs/protocol.md, section 5.12): the rolling
// checksum, signatures built in any split, the matcher on in-place
// changes, insertions, truncation and growth, and the SIGNATURE and COPY
// codecs (and GET's DELTA flag, section 5.16) fed whole, byte by byte and
// in random splits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "common/crypto/rolling_checksum.hpp"
#include "common/delta/block_signature.hpp"
#include "common/delta/delta_matcher.hpp"
#include "common/wire/messages.hpp"
#include "tests/unit/support/feed_plan.hpp"

namespace ft {
namespace {

using delta::BlockIndex;
using delta::DeltaMatcher;
using delta::DeltaOp;
using delta::Signature;
using delta::SignatureBuilder;
using delta::SignaturePart;
using test::pattern_bytes;

TEST(RollingChecksum, RollingEqualsRecomputing) {
  const Bytes data = pattern_bytes(10000, 3);
  for (std::size_t window : {1u, 7u, 4096u}) {
    RollingChecksum sum;
    sum.reset(ByteSpan(data).first(window));
    for (std::size_t at = 0; at + window < data.size(); ++at) {
      sum.roll(data[at], data[at + window]);
      ASSERT_EQ(sum.value(), rolling_checksum(ByteSpan(data).subspan(at + 1, window)))
          << "window " << window << " at " << at + 1;
    }
  }
}

// rsync's definition, byte by byte: a = sum(x + 31), b = sum of the a's;
// the values of docs/protocol.md's `signature` example.
TEST(RollingChecksum, MatchesTheDefinitionAndTheDocumentedExample) {
  const Bytes zeros(4096, 0);
  Bytes abc(4096);
  for (std::size_t i = 0; i < abc.size(); ++i) abc[i] = static_cast<std::uint8_t>("abc"[i % 3]);
  EXPECT_EQ(rolling_checksum(zeros), 0xf800f000u);
  EXPECT_EQ(rolling_checksum(abc), 0xfd550fffu);
  EXPECT_EQ(delta::block_sum(zeros).strong, 0x93d76fe148c689baull);
  const Bytes data = pattern_bytes(70000, 11);
  for (std::size_t n : {0u, 1u, 4095u, 65536u, 70000u}) {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    for (std::size_t i = 0; i < n; ++i) {
      a += data[i] + 31u;
      b += a;
    }
    EXPECT_EQ(rolling_checksum(ByteSpan(data).first(n)), (b << 16) | (a & 0xffff)) << n;
  }
}

TEST(BlockSignature, BlockSizeRule) {
  EXPECT_EQ(delta::block_size_for(0), delta::kMinBlockSize);
  EXPECT_EQ(delta::block_size_for(64ull << 20), delta::kMinBlockSize);
  EXPECT_EQ(delta::block_size_for((64ull << 20) + 4095), delta::kMinBlockSize);  // 16,384 whole
  EXPECT_EQ(delta::block_size_for((64ull << 20) + 4096), 2 * delta::kMinBlockSize);
  EXPECT_EQ(delta::block_size_for(1ull << 30), 64u * 1024);
  EXPECT_EQ(delta::block_size_for(1ull << 40), delta::kMaxBlockSize);
  EXPECT_EQ(delta::block_count_for(1ull << 40, delta::kMaxBlockSize), delta::kMaxBlocks);
  EXPECT_EQ(delta::block_count_for(4095, 4096), 0u);
}

std::vector<SignaturePart> signature_of(ByteSpan basis, std::uint32_t seed = 0) {
  SignatureBuilder builder(basis.size());
  std::mt19937 rng(seed);
  while (!basis.empty()) {
    std::size_t n =
        seed == 0 ? basis.size() : 1 + rng() % std::min<std::size_t>(basis.size(), 9000);
    builder.feed(basis.first(n));
    basis = basis.subspan(n);
  }
  return builder.parts();
}

TEST(BlockSignature, AnySplitGivesTheSameParts) {
  const Bytes basis = pattern_bytes(5 * 4096 + 100, 9);
  const auto whole = signature_of(basis);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].blocks.size(), 5u);
  for (std::uint32_t seed = 1; seed < 6; ++seed) EXPECT_EQ(signature_of(basis, seed), whole);
  SignatureBuilder bytewise(basis.size());
  for (std::uint8_t byte : basis) bytewise.feed(ByteSpan(&byte, 1));
  EXPECT_EQ(bytewise.parts(), whole);
}

// The server signs a big basis in two slices at once: joined, they are
// the signature one builder makes, whatever the split and the cut.
TEST(BlockSignature, SlicesJoinedGiveTheSameParts) {
  // 4,100 whole blocks and a tail: the parts cross kBlocksPerFrame.
  const Bytes basis = pattern_bytes(4100 * 4096 + 77, 5);
  const auto whole = signature_of(basis);
  ASSERT_EQ(whole.size(), 2u);
  for (std::uint32_t cut : {0u, 1u, 2050u, 4096u, 4100u}) {
    SignatureBuilder first(basis.size(), 0, cut);
    SignatureBuilder second(basis.size(), cut, 5000);  // capped at the basis's 4,100
    EXPECT_EQ(first.needed(), std::uint64_t{cut} * 4096);
    EXPECT_EQ(second.needed(), std::uint64_t{4100 - cut} * 4096);
    first.feed(ByteSpan(basis).first(first.needed()));
    // The second slice fed in odd pieces, from its own offset on.
    ByteSpan rest = ByteSpan(basis).subspan(std::size_t{cut} * 4096);
    for (std::size_t at = 0; at < rest.size(); at += 7001) {
      second.feed(rest.subspan(at, std::min<std::size_t>(7001, rest.size() - at)));
    }
    ASSERT_TRUE(first.join(std::move(second))) << "cut " << cut;
    EXPECT_EQ(first.parts(), whole) << "cut " << cut;
  }
}

TEST(BlockSignature, JoinRefusesASliceThatDoesNotFollow) {
  const Bytes basis = pattern_bytes(10 * 4096, 2);
  SignatureBuilder first(basis.size(), 0, 4);
  first.feed(ByteSpan(basis).first(4 * 4096));
  SignatureBuilder gap(basis.size(), 5, 10);
  gap.feed(ByteSpan(basis).subspan(5 * 4096));
  EXPECT_FALSE(first.join(std::move(gap)));
  SignatureBuilder unfed(basis.size(), 4, 10);
  EXPECT_FALSE(first.join(std::move(unfed)));
  SignatureBuilder other(basis.size() + 4096, 4, 11);
  other.feed(ByteSpan(basis).subspan(4 * 4096));
  other.feed(Bytes(4096, 0));
  EXPECT_FALSE(first.join(std::move(other)));
  EXPECT_EQ(first.parts()[0].blocks.size(), 4u);
}

TEST(BlockSignature, AssemblyRefusesWhatDoesNotFit) {
  const Bytes basis = pattern_bytes(8 * 4096, 1);
  auto parts = signature_of(basis);
  Signature good;
  EXPECT_FALSE(good.add(parts[0]));
  EXPECT_TRUE(good.complete());

  SignaturePart wrong_size = parts[0];
  wrong_size.block_size = 8192;
  EXPECT_TRUE(Signature().add(wrong_size));

  SignaturePart too_many = parts[0];
  too_many.blocks.push_back({});
  EXPECT_TRUE(Signature().add(too_many));

  SignaturePart late = parts[0];
  late.first_block = 1;
  EXPECT_TRUE(Signature().add(late));

  // A hostile basis size cannot make the receiver hold more than the cap.
  SignaturePart huge;
  huge.basis_size = ~0ull;
  huge.block_size = delta::block_size_for(huge.basis_size);
  Signature bounded;
  EXPECT_FALSE(bounded.add(huge));
  EXPECT_LE(bounded.memory(), delta::kMaxBlocks * sizeof(delta::BlockSum));
  EXPECT_FALSE(bounded.complete());
}

// Applies ops to the basis and returns the new file, as a receiver would.
Bytes apply(const std::vector<DeltaOp>& ops, ByteSpan basis, ByteSpan fresh,
            std::uint64_t& literal_bytes) {
  Bytes out;
  literal_bytes = 0;
  for (const DeltaOp& op : ops) {
    EXPECT_EQ(op.offset, out.size());
    if (op.kind == DeltaOp::Kind::kCopy) {
      EXPECT_LE(op.basis_offset + op.length, basis.size());
      out.insert(out.end(), basis.begin() + op.basis_offset,
                 basis.begin() + op.basis_offset + op.length);
    } else {
      literal_bytes += op.length;
      out.insert(out.end(), fresh.begin() + op.offset, fresh.begin() + op.offset + op.length);
    }
  }
  return out;
}

// Runs the matcher over `fresh` in windows of `window` bytes (or the
// matcher's minimum) and returns the literal bytes it chose.
std::uint64_t literal_bytes_for(ByteSpan basis, ByteSpan fresh, std::size_t window = 0) {
  Signature signature;
  for (const auto& part : signature_of(basis)) EXPECT_FALSE(signature.add(part));
  BlockIndex index(signature);
  const std::uint32_t max_literal = 16 * 1024;
  DeltaMatcher matcher(index, fresh.size(), max_literal);
  window = std::max(window, matcher.min_window());
  std::vector<DeltaOp> ops;
  std::uint64_t at = 0;
  while (at < fresh.size()) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(window, fresh.size() - at));
    const std::size_t consumed = matcher.scan(fresh.subspan(at, n), at, ops);
    EXPECT_GT(consumed, 0u);
    if (consumed == 0) break;
    at += consumed;
  }
  for (const DeltaOp& op : ops) {
    if (op.kind == DeltaOp::Kind::kLiteral) {
      EXPECT_LE(op.length, max_literal);
    }
  }
  std::uint64_t literal = 0;
  EXPECT_EQ(apply(ops, basis, fresh, literal), Bytes(fresh.begin(), fresh.end()));
  return literal;
}

constexpr std::size_t kBasisSize = 2 * 1024 * 1024 + 1000;  // 4 KiB blocks

TEST(DeltaMatcher, SameFileIsAllCopies) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  EXPECT_EQ(literal_bytes_for(basis, basis), 1000u);  // the unsigned tail
}

TEST(DeltaMatcher, InPlaceChangeSendsItsBlock) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  Bytes fresh = basis;
  for (std::size_t i = 0; i < 100; ++i) fresh[kBasisSize / 2 + i] ^= 0xff;
  EXPECT_LE(literal_bytes_for(basis, fresh), 2 * 4096u + 1000);
}

TEST(DeltaMatcher, InsertionAtTheStartIsFound) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  Bytes fresh = pattern_bytes(12345, 2);
  fresh.insert(fresh.end(), basis.begin(), basis.end());
  EXPECT_LE(literal_bytes_for(basis, fresh), 12345u + 4096 + 1000);
  // The same with windows of every size the client might read.
  for (std::size_t window : {std::size_t{1} << 16, std::size_t{1} << 20}) {
    EXPECT_LE(literal_bytes_for(basis, fresh, window), 12345u + 2 * 4096 + 1000);
  }
}

// Far from any match the matcher tries fewer offsets, and still finds
// moved content within kSparseRollEvery blocks.
TEST(DeltaMatcher, MovedContentAfterALongChangeIsFound) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  Bytes fresh = pattern_bytes(6 * 1024 * 1024 + 123, 3);
  fresh.insert(fresh.end(), basis.begin(), basis.end());
  EXPECT_LE(literal_bytes_for(basis, fresh),
            6u * 1024 * 1024 + 123 + (DeltaMatcher::kSparseRollEvery + 2) * 4096 + 1000);
  // In place (aligned) after a change: found at once.
  Bytes rewritten_start = basis;
  const Bytes noise = pattern_bytes(1024 * 1024 + 4096 * 3, 4);
  std::copy(noise.begin(), noise.end(), rewritten_start.begin());
  EXPECT_LE(literal_bytes_for(basis, rewritten_start), noise.size() + 4096 + 1000);
}

TEST(DeltaMatcher, DeletionTruncationAndGrowth) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  Bytes deleted = basis;
  deleted.erase(deleted.begin() + 5000, deleted.begin() + 9000);
  EXPECT_LE(literal_bytes_for(basis, deleted), 2 * 4096u + 1000);
  const Bytes truncated(basis.begin(), basis.begin() + kBasisSize / 3);
  EXPECT_LE(literal_bytes_for(basis, truncated), 4096u);
  Bytes grown = basis;
  const Bytes more = pattern_bytes(50000, 4);
  grown.insert(grown.end(), more.begin(), more.end());
  EXPECT_LE(literal_bytes_for(basis, grown), 50000u + 4096 + 1000);
}

TEST(DeltaMatcher, RewrittenFileIsAllLiteral) {
  const Bytes basis = pattern_bytes(kBasisSize, 1);
  const Bytes fresh = pattern_bytes(kBasisSize, 2);
  EXPECT_EQ(literal_bytes_for(basis, fresh), kBasisSize);
  EXPECT_EQ(literal_bytes_for(Bytes{}, fresh), kBasisSize);  // no blocks at all
  EXPECT_EQ(literal_bytes_for(basis, Bytes{}), 0u);
}

// After a match, the next block of the basis is taken on its XXH3-64
// alone: block 1's weak sum is made wrong here, and the file is still all
// copies (find() would have looked it up by that weak sum, and missed).
TEST(DeltaMatcher, TheBlockAfterAMatchNeedsOnlyItsStrongSum) {
  const Bytes basis = pattern_bytes(16 * 4096, 1);
  auto parts = signature_of(basis);
  ASSERT_EQ(parts.size(), 1u);
  parts[0].blocks[1].weak ^= 0x5a5a5a5a;
  Signature signature;
  ASSERT_FALSE(signature.add(parts[0]));
  BlockIndex index(signature);
  DeltaMatcher matcher(index, basis.size(), 16 * 1024);
  std::vector<DeltaOp> ops;
  ASSERT_EQ(matcher.scan(basis, 0, ops), basis.size());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0], (DeltaOp{DeltaOp::Kind::kCopy, 0, 0, basis.size()}));
}

TEST(DeltaMatcher, RepeatedBlocksStayInOrder) {
  Bytes basis(64 * 4096, 0);  // every block the same
  EXPECT_EQ(literal_bytes_for(basis, basis), 0u);
}

// A hostile signature whose blocks all share the weak sum of the file's
// content (zeros) but not its strong sum: every offset is a candidate, and
// the capped candidate list keeps the scan linear. Nothing matches.
TEST(DeltaMatcher, SharedWeakSumsFindNothingFalse) {
  const Bytes zeros(1024 * 1024, 0);
  const delta::BlockSum zero_sum = delta::block_sum(ByteSpan(zeros).first(4096));
  SignaturePart part;
  part.basis_size = std::uint64_t{delta::kMaxBlocks} * 4096;
  part.block_size = delta::block_size_for(part.basis_size);
  ASSERT_EQ(part.block_size, 4096u);
  Signature signature;
  for (std::uint32_t first = 0; first < delta::kMaxBlocks; first += delta::kBlocksPerFrame) {
    part.first_block = first;
    part.blocks.assign(delta::kBlocksPerFrame, zero_sum);
    for (std::uint32_t i = 0; i < delta::kBlocksPerFrame; ++i)
      part.blocks[i].strong += first + i + 1;
    ASSERT_FALSE(signature.add(part));
  }
  ASSERT_TRUE(signature.complete());
  BlockIndex index(signature);
  DeltaMatcher matcher(index, zeros.size(), 1024 * 1024);
  std::vector<DeltaOp> ops;
  std::uint64_t at = 0;
  while (at < zeros.size()) at += matcher.scan(ByteSpan(zeros).subspan(at), at, ops);
  for (const DeltaOp& op : ops) EXPECT_EQ(op.kind, DeltaOp::Kind::kLiteral);
}

// The codecs, through the frame decoder in every feed plan.
class DeltaCodec : public ::testing::TestWithParam<test::FeedPlan> {};

TEST_P(DeltaCodec, SignatureAndCopyRoundTrip) {
  // Two parts of a 10-block signature (a full frame of 4,096 blocks is
  // MaxSizeSignatureFrame's, fed whole: byte by byte it only costs time).
  const auto whole = signature_of(pattern_bytes(10 * 4096, 5));
  ASSERT_EQ(whole.size(), 1u);
  std::vector<SignaturePart> parts(2, whole[0]);
  parts[0].blocks.resize(6);
  parts[1].first_block = 6;
  parts[1].blocks.erase(parts[1].blocks.begin(), parts[1].blocks.begin() + 6);
  const CopyMsg copy{1ull << 40, 12345, ~0ull};
  for (Sender sender : {Sender::kClient, Sender::kServer}) {
    Bytes stream;
    encode_hello(stream, Hello{});
    for (const auto& part : parts) encode_signature(stream, 7, part);
    encode_copy(stream, 7, copy);
    test::DecodeRun run = test::run_decoder(stream, test::options_for(sender), GetParam());
    ASSERT_FALSE(run.error) << run.error->reason;
    ASSERT_EQ(run.frames.size(), 3u);
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(run.frames[i].header.type, FrameType::kSignature);
      EXPECT_EQ(run.frames[i].header.request_id, 7u);
      EXPECT_EQ(decode_signature(run.frames[i].payload), parts[i]);
    }
    EXPECT_EQ(decode_copy(run.frames[2].payload), copy);
  }
}

TEST(DeltaCodecLimits, MaxSizeSignatureFrame) {
  const auto parts = signature_of(pattern_bytes(delta::kBlocksPerFrame * 4096 + 4096, 6));
  ASSERT_EQ(parts.size(), 2u);
  ASSERT_EQ(parts[0].blocks.size(), delta::kBlocksPerFrame);
  Bytes stream;
  encode_hello(stream, Hello{});
  encode_signature(stream, 3, parts[0]);
  EXPECT_LE(stream.size() - limits::kHelloSize - limits::kFrameHeaderSize,
            limits::kMaxControlPayload);
  test::DecodeRun run =
      test::run_decoder(stream, test::options_for(Sender::kServer), test::FeedPlan{});
  ASSERT_FALSE(run.error) << run.error->reason;
  ASSERT_EQ(run.frames.size(), 1u);
  EXPECT_EQ(decode_signature(run.frames[0].payload), parts[0]);
  Signature assembled;
  for (const auto& part : parts) EXPECT_FALSE(assembled.add(part));
  EXPECT_TRUE(assembled.complete());
  EXPECT_EQ(assembled.blocks().size(), delta::kBlocksPerFrame + 1);
}

// A delta download (section 5.16): GET with flag DELTA, then the client's
// signature (here one part of no block: "a delta would not pay").
TEST_P(DeltaCodec, DeltaGetAndClientSignature) {
  SignaturePart none;
  none.block_size = delta::block_size_for(0);
  const auto sums = signature_of(pattern_bytes(3 * 4096, 9));
  Bytes stream;
  encode_hello(stream, Hello{});
  encode_get(stream, 4, GetMsg{"a/x", 0}, kFlagDelta);
  encode_signature(stream, 4, none);
  encode_signature(stream, 5, sums[0]);
  test::DecodeRun run = test::run_decoder(stream, test::options_for(Sender::kClient), GetParam());
  ASSERT_FALSE(run.error) << run.error->reason;
  ASSERT_EQ(run.frames.size(), 3u);
  EXPECT_EQ(run.frames[0].header.type, FrameType::kGet);
  EXPECT_EQ(run.frames[0].header.flags, kFlagDelta);
  const auto get = decode_get(run.frames[0].payload);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->path, "a/x");
  EXPECT_EQ(get->offset, 0u);
  EXPECT_EQ(decode_signature(run.frames[1].payload), none);
  Signature empty;
  EXPECT_FALSE(empty.add(*decode_signature(run.frames[1].payload)));
  EXPECT_TRUE(empty.complete());
  EXPECT_TRUE(empty.blocks().empty());
  EXPECT_EQ(decode_signature(run.frames[2].payload), sums[0]);

  // Another GET flag bit is refused before its payload.
  Bytes bad;
  encode_hello(bad, Hello{});
  encode_get(bad, 4, GetMsg{"a/x", 0}, 0x20);
  run = test::run_decoder(bad, test::options_for(Sender::kClient), GetParam());
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->kind, DecodeErrorKind::kBadFlags);
}

INSTANTIATE_TEST_SUITE_P(Plans, DeltaCodec, ::testing::ValuesIn(test::all_feed_plans()),
                         [](const auto& info) { return test::plan_name(info.param); });

TEST(DeltaCodec, MalformedPayloadsAreRefused) {
  SignaturePart part;
  part.basis_size = 3 * 4096;
  part.block_size = 4096;
  part.blocks = {{1, 2}, {3, 4}, {5, 6}};
  Bytes frame;
  encode_signature(frame, 1, part);
  Bytes payload(frame.begin() + limits::kFrameHeaderSize, frame.end());
  ASSERT_EQ(decode_signature(payload), part);
  Bytes cut = payload;
  cut.pop_back();
  EXPECT_FALSE(decode_signature(cut));
  Bytes longer = payload;
  longer.push_back(0);
  EXPECT_FALSE(decode_signature(longer));
  Bytes lying = payload;
  store_be32(lying.data() + 16, 4);  // count says 4, 3 follow
  EXPECT_FALSE(decode_signature(lying));
  Bytes enormous = payload;
  store_be32(enormous.data() + 16, 0xffffffffu);
  EXPECT_FALSE(decode_signature(enormous));
  EXPECT_FALSE(decode_signature(Bytes(10, 0)));

  Bytes copy_frame;
  encode_copy(copy_frame, 1, CopyMsg{0, 0, 1});
  Bytes copy(copy_frame.begin() + limits::kFrameHeaderSize, copy_frame.end());
  EXPECT_TRUE(decode_copy(copy));
  Bytes empty_copy = copy;
  store_be64(empty_copy.data() + 16, 0);
  EXPECT_FALSE(decode_copy(empty_copy));
  copy.push_back(0);
  EXPECT_FALSE(decode_copy(copy));
}

}  // namespace
}  // namespace ft
