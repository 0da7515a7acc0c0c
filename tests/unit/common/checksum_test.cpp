// XXH3-64 and XXH3-128 against vectors computed with xxhsum 0.8.1
// (`xxhsum -H3`, `xxh128sum`), streaming against one-shot in every split,
// and the canonical big-endian form.
#include "common/crypto/checksum.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>  // the library's baseline entry points, not the dispatched ones

#include <random>
#include <string>

#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

ByteSpan text(const std::string& s) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

/// bytes[i] = (31 i + 7) mod 256: the input of the long vectors below.
Bytes ramp(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return out;
}

struct Vector {
  std::string name;
  Bytes input;
  std::uint64_t h64;
  std::string h128;  // xxh128sum output: the canonical form in hex
};

std::vector<Vector> vectors() {
  const std::string abc = "abc";
  return {
      {"empty", {}, 0x2d06800538d394c2ULL, "99aa06d3014798d86001c324468d497f"},
      {"abc", Bytes(abc.begin(), abc.end()), 0x78af5f94892f3950ULL,
       "06b05ab6733a618578af5f94892f3950"},
      {"1000_x", Bytes(1000, 'x'), 0xc0a4877b962cba82ULL, "50a1af5a5f2dcf01c0a4877b962cba82"},
      {"ramp_100000", ramp(100000), 0xccf90df7e7e37036ULL, "8ce7a24d31cd94b1ccf90df7e7e37036"},
  };
}

TEST(Checksum, KnownVectors) {
  for (const Vector& v : vectors()) {
    SCOPED_TRACE(v.name);
    EXPECT_EQ(hash64(v.input), v.h64);
    EXPECT_EQ(hash128(v.input).hex(), v.h128);
  }
  EXPECT_EQ(hash64(text("")), 0x2d06800538d394c2ULL);
}

TEST(Checksum, CanonicalFormIsHighThenLowBigEndian) {
  Hash128 h{0x0102030405060708ULL, 0x1112131415161718ULL};
  auto c = h.canonical();
  const std::array<std::uint8_t, 16> want = {1,    2,    3,    4,    5,    6,    7,    8,
                                             0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  EXPECT_EQ(c, want);
  EXPECT_EQ(h.hex(), "01020304050607081112131415161718");
  EXPECT_EQ(Hash128::from_canonical(c.data()), h);

  Hash128 abc = hash128(text("abc"));
  EXPECT_EQ(abc.high, 0x06b05ab6733a6185ULL);
  EXPECT_EQ(abc.low, 0x78af5f94892f3950ULL);
  auto ac = abc.canonical();
  EXPECT_EQ(Hash128::from_canonical(ac.data()), abc);
}

TEST(Checksum, FromCanonicalRoundTripsAnyValue) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 1000; ++i) {
    Hash128 h{rng(), rng()};
    auto c = h.canonical();
    EXPECT_EQ(Hash128::from_canonical(c.data()), h);
  }
  Hash128 zero{};
  EXPECT_EQ(zero.hex(), std::string(32, '0'));
  Hash128 ones{~0ULL, ~0ULL};
  EXPECT_EQ(ones.hex(), std::string(32, 'f'));
}

class StreamingHash : public ::testing::TestWithParam<FeedPlan> {};

// One-shot, whole, byte by byte and random splits give the same digest.
TEST_P(StreamingHash, AgreesWithOneShot) {
  for (const Vector& v : vectors()) {
    SCOPED_TRACE(v.name);
    StreamHash128 s;
    Chunker chunker(GetParam());
    std::size_t pos = 0;
    while (pos < v.input.size()) {
      std::size_t n = chunker.next(v.input.size() - pos);
      s.update(ByteSpan(v.input).subspan(pos, n));
      pos += n;
    }
    EXPECT_EQ(s.digest(), hash128(v.input));
    EXPECT_EQ(s.digest().hex(), v.h128);
  }
}

INSTANTIATE_TEST_SUITE_P(Plans, StreamingHash,
                         ::testing::Values(FeedPlan{Split::kWhole}, FeedPlan{Split::kByteByByte},
                                           FeedPlan{Split::kRandom, 1}, FeedPlan{Split::kRandom, 7},
                                           FeedPlan{Split::kRandom, 42}),
                         [](const auto& info) { return plan_name(info.param); });

TEST(Checksum, StreamResetMoveAndEmptyUpdates) {
  const Bytes data = ramp(5000);
  StreamHash128 s;
  EXPECT_EQ(s.digest(), hash128({}));
  s.update(data);
  s.update({});
  EXPECT_EQ(s.digest(), hash128(data));
  EXPECT_EQ(s.digest(), hash128(data));  // digest() does not consume the state
  s.reset();
  EXPECT_EQ(s.digest(), hash128({}));
  s.update(ByteSpan(data).first(100));
  StreamHash128 moved = std::move(s);
  moved.update(ByteSpan(data).subspan(100));
  EXPECT_EQ(moved.digest(), hash128(data));
  StreamHash128 other;
  other = std::move(moved);
  EXPECT_EQ(other.digest(), hash128(data));
}

// checksum.cpp calls libxxhash's dispatching entry points (AVX2/AVX-512
// where the CPU has them). Their values must be the baseline code's at
// every length around the vector code's boundaries (the 16, 128 and 240
// byte short paths, 64-byte stripes, 1 KiB blocks) and for whole chunks,
// one-shot and streamed.
TEST(Checksum, DispatchedHashesEqualTheBaselineCode) {
  std::mt19937_64 rng(5);
  Bytes data(1024 * 1024 + 4099);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  std::vector<std::size_t> sizes = {0, 1, 3, 16, 17, 128, 129, 240, 241, 1023, 1024, 1025, 4096};
  for (std::size_t n = 64; n <= 70000; n = n * 3 / 2 + 1) sizes.push_back(n);
  sizes.push_back(1024 * 1024);
  sizes.push_back(data.size());
  for (std::size_t n : sizes) {
    SCOPED_TRACE(n);
    const ByteSpan in = ByteSpan(data).first(n);
    EXPECT_EQ(hash64(in), XXH3_64bits(in.data(), in.size()));
    const XXH128_hash_t want = XXH3_128bits(in.data(), in.size());
    EXPECT_EQ(hash128(in), (Hash128{want.high64, want.low64}));
    StreamHash128 streamed;
    for (std::size_t at = 0; at < n;) {
      const std::size_t step = std::min<std::size_t>(n - at, rng() % 70000 + 1);
      streamed.update(in.subspan(at, step));
      at += step;
    }
    EXPECT_EQ(streamed.digest(), (Hash128{want.high64, want.low64}));
  }
}

}  // namespace
}  // namespace ft::test
