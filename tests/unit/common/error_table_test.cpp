// The one error table: the docs list exactly its rows, wire codes are unique
// and below 1000, and every derived function agrees with the table.
#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "common/rules/errors.hpp"

#ifndef FT_SOURCE_DIR
#error "FT_SOURCE_DIR must name the source tree (set by tests/unit/common/CMakeLists.txt)"
#endif

namespace ft::test {
namespace {

struct Row {
  const char* name;
  unsigned code;
  Exit exit;
  const char* text;
};

const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
#define FT_X(name, code, exit, text) Row{#name, code, Exit::exit, text},
      FT_ERRORS(FT_X)
#undef FT_X
  };
  return rows;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == '\r')) s.erase(s.begin());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

/// The text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in a doc.
std::string between_markers(const std::string& doc_path, const std::string& name) {
  const std::string text = read_file(doc_path);
  const std::string begin = "<!-- " + name + ":begin -->";
  const std::string end = "<!-- " + name + ":end -->";
  std::size_t b = text.find(begin);
  std::size_t e = text.find(end);
  EXPECT_NE(b, std::string::npos) << begin << " missing in " << doc_path;
  EXPECT_NE(e, std::string::npos) << end << " missing in " << doc_path;
  if (b == std::string::npos || e == std::string::npos || e < b) return {};
  EXPECT_EQ(text.find(begin, b + 1), std::string::npos) << "two " << begin << " in " << doc_path;
  b += begin.size();
  return trim_newlines(text.substr(b, e - b));
}

const std::string kDocs = std::string(FT_SOURCE_DIR) + "/docs/";

TEST(ErrorTable, ProtocolDocListsExactlyTheTable) {
  EXPECT_EQ(between_markers(kDocs + "protocol.md", "error-table"),
            trim_newlines(error_table_markdown()));
}

TEST(ErrorTable, ExitCodesDocListsExactlyTheTables) {
  EXPECT_EQ(between_markers(kDocs + "exit-codes.md", "exit-table"),
            trim_newlines(exit_table_markdown()));
  EXPECT_EQ(between_markers(kDocs + "exit-codes.md", "error-table"),
            trim_newlines(error_table_markdown()));
}

TEST(ErrorTable, CodesAreUniqueAndWireCodesAreBelow1000) {
  std::set<unsigned> codes;
  std::set<std::string> names;
  unsigned next_wire = 1;
  for (const Row& r : table()) {
    EXPECT_TRUE(codes.insert(r.code).second) << "duplicate code " << r.code;
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate name " << r.name;
    EXPECT_NE(r.code, 0u) << r.name;
    if (r.code < 1000) {
      // Appended, never renumbered: the wire codes run 1, 2, 3, ...
      EXPECT_EQ(r.code, next_wire++) << r.name;
    }
  }
  EXPECT_GT(next_wire, 1u);
  // Every wire code appears in the generated table, local ones do not.
  const std::string md = error_table_markdown();
  for (const Row& r : table()) {
    bool listed =
        md.find("| " + std::to_string(r.code) + " | " + r.name + " |") != std::string::npos;
    EXPECT_EQ(listed, r.code < 1000) << r.name;
  }
}

TEST(ErrorTable, DerivedFunctionsAgreeWithTheTable) {
  for (const Row& r : table()) {
    SCOPED_TRACE(r.name);
    const auto code = static_cast<ErrorCode>(r.code);
    EXPECT_EQ(to_string(code), r.name);
    EXPECT_EQ(default_message(code), r.text);
    EXPECT_EQ(exit_status_for(code), r.exit);
    EXPECT_EQ(is_wire_code(static_cast<std::uint16_t>(r.code)), r.code < 1000);
    EXPECT_NE(r.exit, Exit::kSuccess);  // a failure never exits 0
  }
}

TEST(ErrorTable, UnknownCodes) {
  for (unsigned n : {0u, 899u, 999u, 1000u, 1099u, 4242u, 65535u}) {
    const auto code = static_cast<ErrorCode>(n);
    EXPECT_EQ(to_string(code), "UNKNOWN_" + std::to_string(n));
    EXPECT_EQ(exit_status_for(code), Exit::kServerError);  // a newer server's code
    EXPECT_FALSE(is_wire_code(static_cast<std::uint16_t>(n)));
    EXPECT_FALSE(default_message(code).empty());
  }
}

TEST(ErrorTable, ExitCodesAreDistinctAndSmall) {
  std::set<int> seen;
#define FT_X(name, value, text)                    \
  EXPECT_TRUE(seen.insert(value).second) << #name; \
  EXPECT_EQ(static_cast<int>(Exit::name), value);  \
  EXPECT_LT(value, 126) << #name " collides with the shell's own codes";
  FT_EXIT_CODES(FT_X)
#undef FT_X
  EXPECT_TRUE(seen.count(0));
}

TEST(ErrorTable, ErrnoMapping) {
  EXPECT_EQ(error_from_errno(ENOENT), ErrorCode::NOT_FOUND);
  EXPECT_EQ(error_from_errno(ENOTDIR), ErrorCode::NOT_A_DIRECTORY);
  EXPECT_EQ(error_from_errno(EISDIR), ErrorCode::IS_A_DIRECTORY);
  EXPECT_EQ(error_from_errno(EACCES), ErrorCode::PERMISSION_DENIED);
  EXPECT_EQ(error_from_errno(EXDEV), ErrorCode::PATH_ESCAPES_ROOT);
  EXPECT_EQ(error_from_errno(ENOSPC), ErrorCode::NO_SPACE);
  EXPECT_EQ(error_from_errno(EIO), ErrorCode::IO_ERROR);
  EXPECT_EQ(error_from_errno(0x7fff), ErrorCode::IO_ERROR);
}

}  // namespace
}  // namespace ft::test
