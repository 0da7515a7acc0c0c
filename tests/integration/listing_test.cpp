// ftls against a real server: plain, long and JSON output; hidden state
// never shown; names with control characters escaped.
#include <fcntl.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

class Listing : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    write_file(root_.path() / "b.txt", "12345");
    fs::create_directory(root_.path() / "a-dir");
    write_file(root_.path() / ".ft-tmp-0123456789abcdef", "partial");
    ::chmod((root_.path() / "b.txt").c_str(), 0604);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 5}};
    ::utimensat(AT_FDCWD, (root_.path() / "b.txt").c_str(), times, 0);
  }
};

TEST_F(Listing, PlainListsNamesSortedWithDirectoriesMarked) {
  RunResult r = run({bin("ftls"), remote()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a-dir/\nb.txt\n");
}

TEST_F(Listing, JsonHasOneObjectPerEntry) {
  RunResult r = run({bin("ftls"), "--json", remote()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> entries;
  while (std::getline(lines, line)) entries.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]["name"], "a-dir");
  EXPECT_EQ(entries[0]["type"], "dir");
  EXPECT_EQ(entries[1]["name"], "b.txt");
  EXPECT_EQ(entries[1]["type"], "file");
  EXPECT_EQ(entries[1]["size"], 5);
  EXPECT_EQ(entries[1]["mode"], 0604);
  EXPECT_EQ(entries[1]["mtime_ns"], 1700000000000000005LL);
}

TEST_F(Listing, LongFormatShowsModeAndSize) {
  RunResult r = run({bin("ftls"), "-l", remote()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("-rw----r--"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 5 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drwx"), std::string::npos) << r.out;
}

TEST_F(Listing, FileListsAsItself) {
  RunResult r = run({bin("ftls"), remote("b.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "b.txt\n");
}

TEST_F(Listing, ControlCharactersInNamesAreEscaped) {
  write_file(root_.path() / "evil\x1b[31mred", "x");
  RunResult r = run({bin("ftls"), remote()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_NE(r.out.find("evil\\x1b[31mred"), std::string::npos) << r.out;
}

TEST_F(Listing, MissingDirectoryExitsFive) {
  RunResult r = run({bin("ftls"), remote("nope")});
  EXPECT_EQ(r.exit_code, 5) << r.err;
}

}  // namespace
}  // namespace ft::testing
