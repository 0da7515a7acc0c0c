#pragma once
// What the server remembers of a resumable upload's partial file across a
// restart: the file's name says it is one (".ft-part-" and a hash of the
// PUT), and an extended attribute holds the size its PUT declared, so that
// the start-up pass and the quota measure count a partial file kept before
// the restart as its cut upload counted it: at its declared size
// (docs/server.md, "Quotas" and "Free-space reserve").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ft::server {

/// The extended attribute that holds a partial file's declared size
/// (8 bytes, big-endian).
inline constexpr const char* kDeclaredSizeAttribute = "user.ft.declared_size";

/// Whether `name` is a resumable upload's partial file.
inline bool is_partial_name(std::string_view name) {
  return name.rfind(".ft-part-", 0) == 0;
}

/// Records `size` on the open partial file `fd`. Best effort: a file system
/// without user extended attributes keeps none, and such a partial file
/// then counts at its size on disk after a restart. 0 or an errno value.
int record_declared_size(int fd, std::uint64_t size);

/// The declared size recorded on the partial file `name` of `dir`, if any
/// (never follows a link). Blocking.
std::optional<std::uint64_t> partial_declared_size(int dir, const std::string& name);

}  // namespace ft::server
