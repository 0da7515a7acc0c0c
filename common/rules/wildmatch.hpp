#pragma once
// rsync's wildcard language for filter patterns, matched against a relative
// path: `*` any run of characters except '/', `**` any run including '/',
// `?` one character except '/', `[...]` one character from a class (ranges
// `a-z`, negation `!` or `^`, POSIX classes `[:alpha:]`; never '/'), and
// `\` quoting the next character. Everything else matches itself.
// libc's fnmatch(3) with FNM_PATHNAME has the same `*`, `?` and classes but
// no `**`, so ft has its own matcher (a table over pattern and text:
// no backtracking blow-up on hostile patterns).
#include <string_view>

namespace ft {

/// True if `pattern` matches the whole of `text`.
bool wildmatch(std::string_view pattern, std::string_view text);

/// True if `pattern` holds a wildcard character (`*`, `?`, `[`).
bool has_wildcards(std::string_view pattern);

}  // namespace ft
