// --proxy-protocol's address lists (common/rules/address_range.hpp).
#include "common/rules/address_range.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ft {
namespace {

TEST(AddressRangeTest, SingleAddressesAndPrefixes) {
  std::string why;
  auto ranges = parse_address_ranges("127.0.0.1, 10.1.0.0/16,::1,2001:db8::/32", why);
  ASSERT_TRUE(ranges) << why;
  ASSERT_EQ(ranges->size(), 4u);
  EXPECT_TRUE(any_contains(*ranges, "127.0.0.1"));
  EXPECT_FALSE(any_contains(*ranges, "127.0.0.2"));
  EXPECT_TRUE(any_contains(*ranges, "10.1.255.3"));
  EXPECT_FALSE(any_contains(*ranges, "10.2.0.1"));
  EXPECT_TRUE(any_contains(*ranges, "::1"));
  EXPECT_TRUE(any_contains(*ranges, "2001:db8:5::7"));
  EXPECT_FALSE(any_contains(*ranges, "2001:db9::7"));
  EXPECT_TRUE(any_contains(*ranges, "::ffff:127.0.0.1"));  // mapped IPv4 counts as IPv4
  EXPECT_FALSE(any_contains(*ranges, "not an address"));
}

TEST(AddressRangeTest, OddPrefixAndEverything) {
  std::string why;
  auto ranges = parse_address_ranges("192.168.1.128/25", why);
  ASSERT_TRUE(ranges) << why;
  EXPECT_TRUE(any_contains(*ranges, "192.168.1.200"));
  EXPECT_FALSE(any_contains(*ranges, "192.168.1.100"));
  ranges = parse_address_ranges("0.0.0.0/0", why);
  ASSERT_TRUE(ranges) << why;
  EXPECT_TRUE(any_contains(*ranges, "203.0.113.9"));
  EXPECT_FALSE(any_contains(*ranges, "::1"));
}

TEST(AddressRangeTest, Refusals) {
  std::string why;
  EXPECT_FALSE(parse_address_ranges("", why));
  EXPECT_FALSE(parse_address_ranges("localhost", why));
  EXPECT_NE(why.find("not a numeric"), std::string::npos) << why;
  EXPECT_FALSE(parse_address_ranges("10.0.0.0/33", why));
  EXPECT_NE(why.find("prefix length"), std::string::npos) << why;
  EXPECT_FALSE(parse_address_ranges("10.0.0.1,,10.0.0.2", why));
  EXPECT_FALSE(parse_address_ranges("::1/129", why));
}

}  // namespace
}  // namespace ft
