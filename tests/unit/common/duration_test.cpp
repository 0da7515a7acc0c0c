// Command-line durations (common/duration): ftserve's --partial-ttl and,
// with milliseconds, its --handshake-timeout and --idle-timeout.
#include "common/rules/duration.hpp"

#include <gtest/gtest.h>

namespace ft {
namespace {

using namespace std::chrono_literals;

TEST(Duration, SecondsAndUnits) {
  EXPECT_EQ(parse_duration("90"), 90s);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("15m"), 15min);
  EXPECT_EQ(parse_duration("12h"), 12h);
  EXPECT_EQ(parse_duration("3d"), 72h);
  for (const char* bad : {"", "s", "-1", "1.5s", "10x", "1ms", "99999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(Duration, MillisecondsForTimeouts) {
  EXPECT_EQ(parse_duration_ms("500ms"), 500ms);
  EXPECT_EQ(parse_duration_ms("0"), 0ms);
  EXPECT_EQ(parse_duration_ms("10s"), 10000ms);
  EXPECT_EQ(parse_duration_ms("2m"), 120000ms);
  for (const char* bad : {"ms", "-5ms", "5 ms", "1.5ms", "x", "99999999999999999ms"}) {
    EXPECT_FALSE(parse_duration_ms(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ft
