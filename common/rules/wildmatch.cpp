#include "common/rules/wildmatch.hpp"

#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

namespace ft {
namespace {

enum class TokenKind { kLiteral, kAnyChar, kStar, kDoubleStar, kClass };

struct Token {
  TokenKind kind = TokenKind::kLiteral;
  char literal = 0;
  std::string_view class_body;  // between '[' (after any negation) and ']'
  bool negated = false;
};

bool posix_class(std::string_view name, unsigned char c) {
  if (name == "alnum") return std::isalnum(c) != 0;
  if (name == "alpha") return std::isalpha(c) != 0;
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return std::iscntrl(c) != 0;
  if (name == "digit") return std::isdigit(c) != 0;
  if (name == "graph") return std::isgraph(c) != 0;
  if (name == "lower") return std::islower(c) != 0;
  if (name == "print") return std::isprint(c) != 0;
  if (name == "punct") return std::ispunct(c) != 0;
  if (name == "space") return std::isspace(c) != 0;
  if (name == "upper") return std::isupper(c) != 0;
  if (name == "xdigit") return std::isxdigit(c) != 0;
  return false;
}

// Finds the ']' closing a class whose body starts at `at`; a ']' right at
// the start is a member, as in fnmatch. npos if the class never closes.
std::size_t class_end(std::string_view pattern, std::size_t at) {
  std::size_t i = at;
  if (i < pattern.size() && pattern[i] == ']') ++i;
  while (i < pattern.size() && pattern[i] != ']') {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      i += 2;
    } else if (pattern.substr(i, 2) == "[:") {
      const std::size_t close = pattern.find(":]", i + 2);
      i = close == std::string_view::npos ? i + 1 : close + 2;
    } else {
      ++i;
    }
  }
  return i < pattern.size() ? i : std::string_view::npos;
}

bool class_matches(const Token& token, char ch) {
  const auto c = static_cast<unsigned char>(ch);
  const std::string_view body = token.class_body;
  bool found = false;
  for (std::size_t i = 0; i < body.size() && !found;) {
    if (body.substr(i, 2) == "[:") {
      const std::size_t close = body.find(":]", i + 2);
      if (close != std::string_view::npos) {
        found = posix_class(body.substr(i + 2, close - i - 2), c);
        i = close + 2;
        continue;
      }
    }
    unsigned char low = static_cast<unsigned char>(body[i]);
    if (low == '\\' && i + 1 < body.size()) low = static_cast<unsigned char>(body[++i]);
    ++i;
    unsigned char high = low;
    if (i + 1 < body.size() && body[i] == '-') {
      high = static_cast<unsigned char>(body[i + 1]);
      if (high == '\\' && i + 2 < body.size()) high = static_cast<unsigned char>(body[++i + 1]);
      i += 2;
    }
    found = low <= c && c <= high;
  }
  return found != token.negated;
}

std::vector<Token> tokenize(std::string_view pattern) {
  std::vector<Token> tokens;
  for (std::size_t i = 0; i < pattern.size();) {
    Token token;
    const char c = pattern[i];
    if (c == '*') {
      std::size_t run = 1;
      while (i + run < pattern.size() && pattern[i + run] == '*') ++run;
      token.kind = run >= 2 ? TokenKind::kDoubleStar : TokenKind::kStar;
      i += run;
    } else if (c == '?') {
      token.kind = TokenKind::kAnyChar;
      ++i;
    } else if (c == '[') {
      std::size_t body = i + 1;
      const bool negated = body < pattern.size() && (pattern[body] == '!' || pattern[body] == '^');
      if (negated) ++body;
      const std::size_t end = class_end(pattern, body);
      if (end == std::string_view::npos) {
        // An unclosed '[' is an ordinary character, as in fnmatch.
        token.literal = c;
        ++i;
      } else {
        token.kind = TokenKind::kClass;
        token.negated = negated;
        token.class_body = pattern.substr(body, end - body);
        i = end + 1;
      }
    } else if (c == '\\' && i + 1 < pattern.size()) {
      token.literal = pattern[i + 1];
      i += 2;
    } else {
      token.literal = c;
      ++i;
    }
    tokens.push_back(token);
  }
  return tokens;
}

}  // namespace

bool wildmatch(std::string_view pattern, std::string_view text) {
  const std::vector<Token> tokens = tokenize(pattern);
  // matches[j]: the tokens seen so far match text[0, j). One row per token,
  // so the cost is tokens x text, whatever the pattern.
  std::vector<char> matches(text.size() + 1, 0);
  std::vector<char> next(text.size() + 1, 0);
  matches[0] = 1;
  for (const Token& token : tokens) {
    std::fill(next.begin(), next.end(), 0);
    for (std::size_t j = 0; j <= text.size(); ++j) {
      switch (token.kind) {
        case TokenKind::kStar:
          next[j] = matches[j] || (j > 0 && next[j - 1] && text[j - 1] != '/');
          break;
        case TokenKind::kDoubleStar:
          next[j] = matches[j] || (j > 0 && next[j - 1]);
          break;
        case TokenKind::kAnyChar:
          next[j] = j > 0 && matches[j - 1] && text[j - 1] != '/';
          break;
        case TokenKind::kClass:
          next[j] =
              j > 0 && matches[j - 1] && text[j - 1] != '/' && class_matches(token, text[j - 1]);
          break;
        case TokenKind::kLiteral:
          next[j] = j > 0 && matches[j - 1] && text[j - 1] == token.literal;
          break;
      }
    }
    matches.swap(next);
  }
  return matches[text.size()] != 0;
}

bool has_wildcards(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

}  // namespace ft
