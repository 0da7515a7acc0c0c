#pragma once
// The path rules of docs/protocol.md, section 6: which remote paths a client
// may name. Pure checks, used by the server on every request and by clients
// on every name a server sends them.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

/// Prefix of names reserved for the server's own files (temporary uploads,
/// state); never valid in a client path and never listed.
inline constexpr std::string_view kReservedPrefix = ".ft-";

/// Why a path was refused, or nullopt when it is valid. `allow_root` accepts
/// the empty path (the root itself).
std::optional<std::string> path_violation(std::string_view path, bool allow_root);
/// Same for a single name (a directory entry a server sent).
std::optional<std::string> component_violation(std::string_view name);
/// Why a symlink at `link_path` (a valid path below the root) may not point
/// to `target`, or nullopt when the target stays inside the tree
/// (docs/protocol.md, section 5.5): relative, no NUL, and never climbing
/// above the root when joined to the link's directory.
std::optional<std::string> symlink_target_violation(std::string_view link_path,
                                                    std::string_view target);
/// True if `s` is well-formed UTF-8 (shortest forms, no surrogates).
bool is_valid_utf8(std::string_view s);
/// Splits a valid path into its components ("" gives none).
std::vector<std::string> split_path(std::string_view path);
/// `s` with every control byte, DEL and invalid UTF-8 byte shown as \xHH so
/// peer-supplied text can be printed on a terminal safely.
std::string printable(std::string_view s);

}  // namespace ft
