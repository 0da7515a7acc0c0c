// Failover between servers of one shared root (client/net/server_list.hpp):
// the order connect_and_run() tries them in, and how a failure moves it on.
#include "client/net/server_list.hpp"

#include <gtest/gtest.h>

namespace ft::client {
namespace {

RemoteSpec remote(const std::string& text) {
  std::string why;
  auto spec = parse_remote(text, why);
  EXPECT_TRUE(spec) << why;
  return spec ? *spec : RemoteSpec{};
}

TEST(ServerList, ASingleServerIsTriedAlone) {
  use_servers(remote("solo.lan:7070/dir"));
  const auto order = servers_in_turn(Endpoint{"solo.lan", 7070});
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(order[0], (Endpoint{"solo.lan", 7070}));
}

TEST(ServerList, AFailureMovesTheNextTryOn) {
  use_servers(remote("a.lan,b.lan:7071,c.lan/dir"));
  const Endpoint first{"a.lan", 7070};
  const Endpoint b{"b.lan", 7071};
  const Endpoint c{"c.lan", 7070};
  EXPECT_EQ(servers_in_turn(first), (std::vector<Endpoint>{first, b, c}));
  server_failed(first, first);
  EXPECT_EQ(servers_in_turn(first), (std::vector<Endpoint>{b, c, first}));
  server_failed(first, c);  // wraps around
  EXPECT_EQ(servers_in_turn(first), (std::vector<Endpoint>{first, b, c}));
  // Given again (a second remote argument): the list and its place stay.
  server_failed(first, b);
  use_servers(remote("a.lan,b.lan:7071,c.lan/other"));
  EXPECT_EQ(servers_in_turn(first), (std::vector<Endpoint>{c, first, b}));
  // A server not in the list changes nothing.
  server_failed(first, Endpoint{"z.lan", 1});
  EXPECT_EQ(servers_in_turn(first), (std::vector<Endpoint>{c, first, b}));
}

}  // namespace
}  // namespace ft::client
