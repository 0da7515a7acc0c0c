// Key files (common/keys.cpp): the server's keys file and a client's key
// file round-trip, every malformed line is refused with its line number, and
// a key file readable by anyone but its owner is refused.
#include "common/crypto/keys.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ft::test {
namespace {

const std::string kHexKey(64, 'a');
const std::string kId = "5f0c1e7a9b2d4c68a1e3f5b7d9c0e2a4";

std::string line(const std::string& id, const std::string& key, const std::string& rights,
                 const std::string& subdir, const std::string& name) {
  return id + " " + key + " " + rights + " " + subdir + " " + name + "\n";
}

TEST(Keys, RightsParseAndFormat) {
  EXPECT_EQ(parse_rights("list"), kRightList);
  EXPECT_EQ(parse_rights("list,read,create"), kDefaultRights);
  EXPECT_EQ(parse_rights("delete,overwrite,create,read,list"), kAllRights);
  EXPECT_EQ(parse_rights("read,read"), kRightRead);
  EXPECT_EQ(parse_rights("none"), 0u);
  for (const char* bad : {"", ",", "list,", ",list", "list,,read", "List", "write", "list read",
                          "all", "none,list"}) {
    EXPECT_FALSE(parse_rights(bad)) << bad;
  }
  EXPECT_EQ(format_rights(kDefaultRights), "list,read,create");
  EXPECT_EQ(format_rights(kAllRights), "list,read,create,overwrite,delete");
  EXPECT_EQ(format_rights(0), "none");
  for (std::uint32_t bits = 0; bits <= kAllRights; ++bits) {
    EXPECT_EQ(parse_rights(format_rights(bits)), bits) << bits;
  }
}

TEST(Keys, KeysFileRoundTrip) {
  std::vector<KeyEntry> entries;
  entries.push_back(new_key_entry("laptop", kDefaultRights, ""));
  entries.push_back(new_key_entry("backup-box", kAllRights, "backups/box"));
  entries.push_back(new_key_entry("viewer", kRightList | kRightRead, "pub"));
  entries.push_back(new_key_entry("disabled", 0, ""));
  std::string text = format_keys_file(entries);
  std::string why;
  auto parsed = parse_keys_file(text, why);
  ASSERT_TRUE(parsed) << why;
  ASSERT_EQ(parsed->size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const KeyEntry& a = entries[i];
    const KeyEntry& b = (*parsed)[i];
    EXPECT_EQ(a.key.identity, b.key.identity);
    EXPECT_EQ(a.key.secret, b.key.secret);
    EXPECT_EQ(a.rights, b.rights);
    EXPECT_EQ(a.subdir, b.subdir);
    EXPECT_EQ(a.name, b.name);
  }
  EXPECT_EQ(format_keys_file(*parsed), text);
}

TEST(Keys, QuotasRoundTripAndOldFilesStillLoad) {
  std::vector<KeyEntry> entries;
  entries.push_back(new_key_entry("both", kDefaultRights, "q/both"));
  entries.back().quota_bytes = 1u << 20;
  entries.back().quota_files = 3;
  entries.push_back(new_key_entry("files-only", kDefaultRights, "q/files"));
  entries.back().quota_files = 7;
  entries.push_back(new_key_entry("none", kDefaultRights, ""));
  const std::string text = format_keys_file(entries);
  EXPECT_NE(text.find(" both 1048576:3\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" files-only -:7\n"), std::string::npos) << text;
  // Without a quota the line keeps its five fields, as older files have.
  EXPECT_NE(text.find(" - none\n"), std::string::npos) << text;
  std::string why;
  auto parsed = parse_keys_file(text, why);
  ASSERT_TRUE(parsed) << why;
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].quota_bytes, 1u << 20);
  EXPECT_EQ((*parsed)[0].quota_files, 3u);
  EXPECT_EQ((*parsed)[1].quota_bytes, 0u);
  EXPECT_EQ((*parsed)[1].quota_files, 7u);
  EXPECT_EQ((*parsed)[2].quota_bytes, 0u);
  EXPECT_EQ(format_keys_file(*parsed), text);
  // A file from before quotas: five fields, no quota.
  auto old = parse_keys_file(line(kId, kHexKey, "list", "sub", "old"), why);
  ASSERT_TRUE(old) << why;
  EXPECT_EQ((*old)[0].quota_bytes, 0u);
  EXPECT_EQ((*old)[0].quota_files, 0u);
  for (const char* bad : {"5", "x:1", "1:", ":1", "0:1", "1:0", "-1:2", "1:2:3"}) {
    EXPECT_FALSE(parse_keys_file(kId + " " + kHexKey + " list sub q " + bad + "\n", why)) << bad;
  }
  // A quota on the whole root is refused: what it would count is undefined.
  EXPECT_FALSE(parse_keys_file(kId + " " + kHexKey + " list - q 10:10\n", why));
  EXPECT_NE(why.find("sub-directory"), std::string::npos) << why;
}

TEST(Keys, NewEntriesAreRandomAndWellFormed) {
  KeyEntry a = new_key_entry("a", kDefaultRights, "");
  KeyEntry b = new_key_entry("b", kDefaultRights, "");
  EXPECT_EQ(a.key.identity.size(), 32u);
  EXPECT_EQ(a.key.identity.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.key.identity, b.key.identity);
  EXPECT_NE(a.key.secret, b.key.secret);
}

TEST(Keys, KeysFileSkipsCommentsAndBlankLines) {
  std::string text = "# comment\n\n   \n" + line(kId, kHexKey, "list", "-", "one") +
                     "  # indented comment\n" +
                     line("other.id_2-x", std::string(64, 'F'), "read", "a/b", "two");
  std::string why;
  auto parsed = parse_keys_file(text, why);
  ASSERT_TRUE(parsed) << why;
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].subdir, "");
  EXPECT_EQ((*parsed)[1].subdir, "a/b");
  EXPECT_EQ((*parsed)[1].key.secret[0], 0xff);
  EXPECT_TRUE(parse_keys_file("", why));
  EXPECT_TRUE(parse_keys_file(line(kId, kHexKey, "list", "-", "crlf") + "\r\n", why)) << why;
}

struct BadKeysLine {
  const char* label;
  std::string text;
  const char* why_part;
};

TEST(Keys, KeysFileBadLinesNameTheLine) {
  const std::string good = line(kId, kHexKey, "list", "-", "one");
  const BadKeysLine cases[] = {
      {"too few fields", kId + " " + kHexKey + " list -\n", "expected"},
      {"too many fields", kId + " " + kHexKey + " list - one extra\n", "expected"},
      {"short key", line(kId, std::string(63, 'a'), "list", "-", "x"), "64 hex"},
      {"long key", line(kId, std::string(66, 'a'), "list", "-", "x"), "64 hex"},
      {"non-hex key", line(kId, std::string(63, 'a') + "g", "list", "-", "x"), "64 hex"},
      {"bad rights", line(kId, kHexKey, "list,write", "-", "x"), "rights"},
      {"identity charset", line("id/with/slash", kHexKey, "list", "-", "x"), "identity"},
      {"identity too long", line(std::string(65, 'a'), kHexKey, "list", "-", "x"), "identity"},
      {"escaping subdir", line(kId, kHexKey, "list", "../up", "x"), "sub-directory"},
      {"absolute subdir", line(kId, kHexKey, "list", "/etc", "x"), "sub-directory"},
      {"bad name", line(kId, kHexKey, "list", "-", "na$me"), "name"},
      {"duplicate id", line(kId, kHexKey, "list", "-", "two"), "duplicate identity"},
      {"duplicate name", line("another", kHexKey, "list", "-", "one"), "duplicate name"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parse_keys_file("# header\n" + good + c.text, why)) << c.label;
    EXPECT_NE(why.find("line 3"), std::string::npos) << c.label << ": " << why;
    EXPECT_NE(why.find(c.why_part), std::string::npos) << c.label << ": " << why;
  }
}

TEST(Keys, ClientKeyRoundTrip) {
  KeyEntry entry = new_key_entry("laptop", kDefaultRights, "");
  std::string text = format_client_key(entry);
  EXPECT_EQ(text.rfind("# ft client key for laptop", 0), 0u);
  std::string why;
  auto key = parse_client_key(text, why);
  ASSERT_TRUE(key) << why;
  EXPECT_EQ(key->identity, entry.key.identity);
  EXPECT_EQ(key->secret, entry.key.secret);
  // Order, blank lines and comments do not matter.
  auto again = parse_client_key("\nkey " + std::string(64, '0') + "\n# c\nidentity abc\n", why);
  ASSERT_TRUE(again) << why;
  EXPECT_EQ(again->identity, "abc");
}

TEST(Keys, ClientKeyBadText) {
  const std::string key_line = "key " + kHexKey + "\n";
  const std::string id_line = "identity " + kId + "\n";
  for (const std::string& text : {
           std::string(""),
           id_line,
           key_line,
           id_line + "key " + std::string(62, 'a') + "\n",
           id_line + "key " + kHexKey + " extra\n",
           "identity bad/id\n" + key_line,
           "identity\n" + key_line,
           id_line + key_line + "colour blue\n",
       }) {
    std::string why;
    EXPECT_FALSE(parse_client_key(text, why)) << text;
    EXPECT_FALSE(why.empty());
  }
}

/// A temporary file with the given text and mode, removed at the end.
class TempFile {
 public:
  TempFile(const std::string& text, mode_t mode) {
    char name[] = "/tmp/ft-keys-test.XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    EXPECT_EQ(::chmod(name, mode), 0);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Keys, PrivateFileModes) {
  const std::string text = "identity abc\nkey " + kHexKey + "\n";
  std::string why;
  {
    TempFile file(text, 0600);
    auto read = read_private_file(file.path(), why);
    ASSERT_TRUE(read) << why;
    EXPECT_EQ(*read, text);
  }
  {
    TempFile file(text, 0400);
    EXPECT_TRUE(read_private_file(file.path(), why)) << why;
  }
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606}) {
    TempFile file(text, mode);
    why.clear();
    EXPECT_FALSE(read_private_file(file.path(), why)) << std::oct << mode;
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(why.find(octal), std::string::npos) << why;
    EXPECT_NE(why.find("chmod 600"), std::string::npos) << why;
  }
}

TEST(Keys, PrivateFileMustBeARegularFile) {
  std::string why;
  EXPECT_FALSE(read_private_file("/nonexistent/ft-keys", why));
  EXPECT_NE(why.find("/nonexistent/ft-keys"), std::string::npos);
  char dir[] = "/tmp/ft-keys-dir.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ::chmod(dir, 0700);
  EXPECT_FALSE(read_private_file(dir, why));
  EXPECT_NE(why.find("regular file"), std::string::npos) << why;
  // A FIFO must be refused, not block the reader.
  std::string fifo = std::string(dir) + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(read_private_file(fifo, why));
  EXPECT_NE(why.find("regular file"), std::string::npos) << why;
  ::unlink(fifo.c_str());
  ::rmdir(dir);
}

TEST(Keys, PrivateFileBehindASymbolicLinkIsRefused) {
  TempFile file("id key\n", 0600);
  const std::string link = file.path() + ".link";
  ASSERT_EQ(::symlink(file.path().c_str(), link.c_str()), 0);
  std::string why;
  EXPECT_FALSE(read_private_file(link, why));
  EXPECT_NE(why.find("symbolic link"), std::string::npos) << why;
  ::unlink(link.c_str());
}

TEST(Keys, PrivateFileOwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  TempFile file("id key\n", 0600);
  ASSERT_EQ(::chown(file.path().c_str(), 4242, 4242), 0);
  std::string why;
  EXPECT_FALSE(read_private_file(file.path(), why));
  EXPECT_NE(why.find("owned by uid 4242"), std::string::npos) << why;
}

TEST(Keys, AProcessThatReadAKeyFileIsNotDumpable) {
  TempFile file("id key\n", 0600);
  std::string why;
  ASSERT_TRUE(read_private_file(file.path(), why)) << why;
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE), 0) << "a core file would carry the keys";
}

TEST(Keys, WipeOverwritesAndEmpties) {
  std::string secret = "0123456789abcdef0123456789abcdef";
  wipe(secret);
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(std::string(secret.data(), 32).find_first_not_of('\0'), std::string::npos)
      << "the bytes are overwritten, not just forgotten";
}

}  // namespace
}  // namespace ft::test
