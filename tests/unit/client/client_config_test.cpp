// The clients' profile file (client/cli/client_config.hpp): what a profile
// holds, the NAME: rule, and a located error for each kind of bad file.
#include "client/cli/client_config.hpp"

#include <gtest/gtest.h>

namespace ft::client {
namespace {

ClientConfig parse_ok(std::string_view text) {
  std::string why;
  auto config = parse_client_config(text, "/home/u/.config/ft/config", "/home/u", why);
  EXPECT_TRUE(config) << why;
  return config ? *config : ClientConfig{};
}

std::string parse_bad(std::string_view text) {
  std::string why;
  auto config = parse_client_config(text, "/home/u/.config/ft/config", "/home/u", why);
  EXPECT_FALSE(config) << text;
  return why;
}

TEST(ClientConfig, ProfilesWithHostKeyOptionsAndExcludes) {
  ClientConfig config = parse_ok(
      "# servers\n"
      "[nas]\n"
      "host = nas.lan\n"
      "key-file = ~/.config/ft/nas.key\n"
      "retries = 5\n"
      "checksum = true\n"
      "exclude = *.tmp\n"
      "exclude = cache/\n"
      "[v6]\n"
      "host = [fd00::1]:7071\n"
      "key_file = keys/v6.key\n"
      "[abs]\n"
      "host = 10.0.0.2:9000\n"
      "key-file = /etc/ft/abs.key\n");
  ASSERT_EQ(config.profiles.size(), 3u);
  const Profile* nas = config.find("nas");
  ASSERT_NE(nas, nullptr);
  EXPECT_EQ(nas->line, 2u);
  EXPECT_EQ(nas->host, "nas.lan");
  EXPECT_EQ(nas->port, 7070);
  EXPECT_EQ(nas->key_file, "/home/u/.config/ft/nas.key");
  ASSERT_EQ(nas->options.size(), 2u);
  EXPECT_EQ(nas->options[0].key, "retries");
  EXPECT_EQ(nas->options[1].value, "true");
  ASSERT_EQ(nas->excludes.size(), 2u);
  EXPECT_EQ(nas->excludes[1].value, "cache/");
  const Profile* v6 = config.find("v6");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->host, "fd00::1");
  EXPECT_EQ(v6->port, 7071);
  EXPECT_EQ(v6->key_file, "/home/u/.config/ft/keys/v6.key");  // beside the file
  EXPECT_EQ(config.find("abs")->key_file, "/etc/ft/abs.key");
  EXPECT_EQ(config.find("none"), nullptr);
}

// Several servers of one shared root (docs/scale-out.md).
TEST(ClientConfig, ProfileWithAServerList) {
  ClientConfig config = parse_ok(
      "[cluster]\n"
      "host = node1.lan, node2.lan:7071,[::1]\n");
  ASSERT_EQ(config.profiles.size(), 1u);
  const Profile& cluster = config.profiles[0];
  EXPECT_EQ(cluster.host, "node1.lan");
  EXPECT_EQ(cluster.port, 7070);
  ASSERT_EQ(cluster.alternates.size(), 2u);
  EXPECT_EQ(cluster.alternates[0], (Endpoint{"node2.lan", 7071}));
  EXPECT_EQ(cluster.alternates[1], (Endpoint{"::1", 7070}));
  EXPECT_NE(parse_bad("[c]\nhost = node1,\n").find("bad host"), std::string::npos);
}

TEST(ClientConfig, EmptyFileHasNoProfiles) {
  EXPECT_TRUE(parse_ok("").profiles.empty());
  EXPECT_TRUE(parse_ok("# nothing yet\n\n").profiles.empty());
}

TEST(ClientConfig, BadFilesAreLocated) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"retries = 1\n", ":1: settings belong to a profile"},
      {"[nas]\nhost = a\nport = 1\n", ":3: unknown setting 'port' in [nas] (known: host,"},
      {"[nas]\n", ":1: profile [nas] has no 'host"},
      {"[nas]\nhost = a:0\n", ":2: bad host 'a:0'"},
      {"[nas]\nhost = [::1\n", ":2: bad host"},
      {"[nas]\nhost = a/b\n", ":2: bad host 'a/b': a path does not belong in host"},
      {"[nas]\nhost = a\nretries = 1\nretries = 2\n", ":4: 'retries' is already set on line 3"},
      {"[nas]\nhost = a\nlinks = 2\n", ":3: 'links' is a switch"},
      {"[nas]\nhost = a\nretries =\n", ":3: no value for 'retries'"},
      {"[nas]\nhost = a\nexclude =\n", ":3: no pattern for 'exclude'"},
      {"[nas]\nhost = a\n[b c]\n", ":3: bad section name"},
  };
  for (const Case& c : cases) {
    std::string why = parse_bad(c.text);
    EXPECT_EQ(why.rfind("/home/u/.config/ft/config:", 0), 0u) << why;
    EXPECT_NE(why.find(c.expected), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(ClientConfig, ProfileReferences) {
  struct Case {
    const char* arg;
    const char* name;  // nullptr: not a profile
    const char* path;
  };
  const Case cases[] = {
      {"nas:", "nas", ""},
      {"nas:/", "nas", ""},
      {"nas:docs", "nas", "docs"},
      {"nas:/docs/sub/", "nas", "docs/sub/"},
      {"my_nas-2:x:y", "my_nas-2", "x:y"},
      {"nas:7070x", "nas", "7070x"},
      // Every form that meant a host keeps meaning it.
      {"nas", nullptr, nullptr},
      {"nas/docs", nullptr, nullptr},
      {"nas:7070", nullptr, nullptr},
      {"nas:7070/docs", nullptr, nullptr},
      {"127.0.0.1:7070", nullptr, nullptr},
      {"[::1]:7070/x", nullptr, nullptr},
      {"nas.lan:", nullptr, nullptr},
      {":7070", nullptr, nullptr},
      {"dir/nas:", nullptr, nullptr},
  };
  for (const Case& c : cases) {
    auto reference = profile_reference(c.arg);
    if (c.name == nullptr) {
      EXPECT_FALSE(reference) << c.arg;
      continue;
    }
    ASSERT_TRUE(reference) << c.arg;
    EXPECT_EQ(reference->name, c.name) << c.arg;
    EXPECT_EQ(reference->path, c.path) << c.arg;
  }
}

}  // namespace
}  // namespace ft::client
