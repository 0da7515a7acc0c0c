// --bwlimit's pieces in common/: the rate syntax (rules/byte_rate) and the
// token bucket that paces to it (base/token_bucket), on a fake clock.
#include <gtest/gtest.h>

#include <cstdint>

#include "common/base/token_bucket.hpp"
#include "common/rules/byte_rate.hpp"

namespace ft {
namespace {

using namespace std::chrono_literals;

TEST(ByteRate, NumbersAndUnits) {
  EXPECT_EQ(parse_byte_rate("0"), 0u);
  EXPECT_EQ(parse_byte_rate("100000"), 100000u);
  EXPECT_EQ(parse_byte_rate("512K"), 512u * 1024);
  EXPECT_EQ(parse_byte_rate("512k"), 512u * 1024);
  EXPECT_EQ(parse_byte_rate("10M"), 10u << 20);
  EXPECT_EQ(parse_byte_rate("10MB"), 10u << 20);
  EXPECT_EQ(parse_byte_rate("10MiB"), 10u << 20);
  EXPECT_EQ(parse_byte_rate("10MiB/s"), 10u << 20);
  EXPECT_EQ(parse_byte_rate("1.5MiB/s"), 3u << 19);
  EXPECT_EQ(parse_byte_rate("2G"), std::uint64_t{2} << 30);
  EXPECT_EQ(parse_byte_rate("1T"), std::uint64_t{1} << 40);
  EXPECT_EQ(parse_byte_rate("100B/s"), 100u);
  EXPECT_EQ(parse_byte_rate("0.5K"), 512u);
}

TEST(ByteRate, Malformed) {
  for (const char* bad : {"", "/s", "K", "-1", "+5", "1.", ".5", "10X", "10 M", "10MBs", "10Mi",
                          "1.5.5M", "0.1", "2T", "99999999999999999999999"}) {
    EXPECT_FALSE(parse_byte_rate(bad).has_value()) << bad;
  }
}

TEST(TokenBucket, StartsFullAndRunsIntoDebt) {
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket bucket(1 << 20, t0);  // 1 MiB/s: burst 100 KiB
  EXPECT_EQ(bucket.burst(), (1u << 20) / 10);
  EXPECT_TRUE(bucket.ready(t0));
  bucket.take(1 << 20, t0);  // one 1 MiB chunk at once
  EXPECT_FALSE(bucket.ready(t0));
  // The debt (1 MiB - 100 KiB) takes 0.9 s to pay.
  EXPECT_EQ(bucket.wait(t0), 901ms);
  EXPECT_FALSE(bucket.ready(t0 + 899ms));
  EXPECT_TRUE(bucket.ready(t0 + 901ms));
}

TEST(TokenBucket, AverageRateIsExactOverManyWrites) {
  // A writer that sends 64 KiB whenever allowed, woken when wait() says:
  // 30 s of it carry 30 s worth of the rate, plus at most one burst and
  // one write.
  const std::uint64_t rate = 10 << 20;
  auto now = TokenBucket::Clock::time_point{} + 1h;
  const auto end = now + 30s;
  TokenBucket bucket(rate, now);
  std::uint64_t sent = 0;
  while (now < end) {
    if (bucket.ready(now)) {
      bucket.take(64 * 1024, now);
      sent += 64 * 1024;
    } else {
      now += bucket.wait(now);
    }
  }
  const double expected = 30.0 * static_cast<double>(rate);
  EXPECT_GE(static_cast<double>(sent), expected * 0.99);
  EXPECT_LE(static_cast<double>(sent), expected + static_cast<double>(bucket.burst() + 64 * 1024));
}

TEST(TokenBucket, IdleTimeEarnsNoMoreThanTheBurst) {
  auto now = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket bucket(1000000, now);
  now += 1h;
  bucket.take(bucket.burst(), now);
  EXPECT_FALSE(bucket.ready(now));
}

TEST(TokenBucket, ClockGoingBackwardsChangesNothing) {
  auto now = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket bucket(1000, now);
  bucket.take(bucket.burst() + 1000, now);
  EXPECT_FALSE(bucket.ready(now - 10s));
  EXPECT_EQ(bucket.wait(now), 1001ms);
}

}  // namespace
}  // namespace ft
