// HOST[:PORT][/PATH] for the clients and ADDR:PORT for ftserve --listen.
#include "common/rules/address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ft::test {
namespace {

struct Parsed {
  std::string host;
  std::uint16_t port;
  std::string path;
};

void expect_remote(const std::string& text, const Parsed& want) {
  std::string why;
  auto got = parse_remote(text, why);
  ASSERT_TRUE(got.has_value()) << text << ": " << why;
  EXPECT_EQ(got->host, want.host) << text;
  EXPECT_EQ(got->port, want.port) << text;
  EXPECT_EQ(got->path, want.path) << text;
}

void expect_listen(const std::string& text, const Parsed& want) {
  std::string why;
  auto got = parse_listen(text, why);
  ASSERT_TRUE(got.has_value()) << text << ": " << why;
  EXPECT_EQ(got->host, want.host) << text;
  EXPECT_EQ(got->port, want.port) << text;
  EXPECT_EQ(got->path, "") << text;
}

TEST(Address, RemoteForms) {
  expect_remote("host", {"host", kDefaultPort, ""});
  expect_remote("host:7070", {"host", 7070, ""});
  expect_remote("host:1/dir/sub/", {"host", 1, "dir/sub"});
  expect_remote("host/", {"host", kDefaultPort, ""});
  expect_remote("host/a/b", {"host", kDefaultPort, "a/b"});
  expect_remote("host:65535/x", {"host", 65535, "x"});
  expect_remote("[::1]", {"::1", kDefaultPort, ""});
  expect_remote("[::1]:9000/x", {"::1", 9000, "x"});
  expect_remote("[fe80::1%eth0]:22", {"fe80::1%eth0", 22, ""});
  expect_remote("[::1]/a:b/c", {"::1", kDefaultPort, "a:b/c"});
  expect_remote("127.0.0.1:8080/f.txt", {"127.0.0.1", 8080, "f.txt"});
  expect_remote("files.example.org:7070/ünï/ф", {"files.example.org", 7070, "ünï/ф"});
}

TEST(Address, RemoteRefusals) {
  for (const std::string text :
       {"127.0.0.1:0", "::1",     "::1:7070", "host:",    "host:/x",  "host:70000",  "host:65536",
        "host:abc",    "host:-1", "host:+80", "host: 80", "host:80x", "host:123456", "[::1",
        "[::1:7070",   "[]",      "[]:7070",  "[host]",   "[::1]x",   "[::1]:",      ":7070",
        ":7070/x",     "",        "/path",    "a:b:c"}) {
    std::string why;
    EXPECT_FALSE(parse_remote(text, why).has_value()) << "'" << text << "' was accepted";
    EXPECT_FALSE(why.empty()) << text;
  }
}

// Several servers of one shared root (docs/scale-out.md): each with its
// own port, the path after the list; commas inside the path are the path's.
TEST(Address, RemoteServerLists) {
  std::string why;
  auto got = parse_remote("host1,host2:7071,[::1]:9000/dir/a,b/", why);
  ASSERT_TRUE(got) << why;
  EXPECT_EQ(got->host, "host1");
  EXPECT_EQ(got->port, kDefaultPort);
  EXPECT_EQ(got->path, "dir/a,b");
  ASSERT_EQ(got->alternates.size(), 2u);
  EXPECT_EQ(got->alternates[0], (Endpoint{"host2", 7071}));
  EXPECT_EQ(got->alternates[1], (Endpoint{"::1", 9000}));
  got = parse_remote("host1:7070", why);
  ASSERT_TRUE(got) << why;
  EXPECT_TRUE(got->alternates.empty());
  for (const std::string text : {"host1,", ",host2", "host1,,host2", "host1,host2:0/x", "h,::1"}) {
    EXPECT_FALSE(parse_remote(text, why).has_value()) << "'" << text << "' was accepted";
    EXPECT_FALSE(why.empty()) << text;
  }
  EXPECT_FALSE(parse_remote("host1,host2:x", why));
  EXPECT_NE(why.find("server 2 of the list"), std::string::npos) << why;
  EXPECT_FALSE(parse_listen("host1:1,host2:2", why));
}

TEST(Address, ListenForms) {
  expect_listen("127.0.0.1:0", {"127.0.0.1", 0, ""});
  expect_listen("0.0.0.0:7070", {"0.0.0.0", 7070, ""});
  expect_listen("[::]:0", {"::", 0, ""});
  expect_listen("[::1]:9000", {"::1", 9000, ""});
  expect_listen("localhost", {"localhost", kDefaultPort, ""});
}

TEST(Address, ListenRefusals) {
  for (const std::string text : {"127.0.0.1:0/x", "host:7070/", "[::]:0/dir", "::", "::1",
                                 "host:", "host:70000", "[::1", "[]", ":7070", ""}) {
    std::string why;
    EXPECT_FALSE(parse_listen(text, why).has_value()) << "'" << text << "' was accepted";
    EXPECT_FALSE(why.empty()) << text;
  }
}

TEST(Address, ReasonsSaySomethingUseful) {
  std::string why;
  EXPECT_FALSE(parse_remote("::1", why));
  EXPECT_NE(why.find("bracket"), std::string::npos) << why;
  EXPECT_FALSE(parse_remote("host:70000", why));
  EXPECT_NE(why.find("70000"), std::string::npos) << why;
  EXPECT_FALSE(parse_listen("h:1/x", why));
  EXPECT_NE(why.find("path"), std::string::npos) << why;
}

}  // namespace
}  // namespace ft::test
