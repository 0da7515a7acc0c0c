#pragma once
// The path rules of docs/protocol.md, section 6: which remote paths a client
// may name. Pure checks, used by the server on every request and by clients
// on every name a server sends them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

/// Prefix of names reserved for the server's own files (temporary uploads,
/// state); never valid in a client path and never listed.
inline constexpr std::string_view kReservedPrefix = ".ft-";

/// Which bytes a name may hold. kPortable: section 6 as it always was
/// (UTF-8, no controls, no hidden characters). kAnyBytes: with ARCHIVE
/// agreed (section 5.9), any byte but NUL and '/', as the file system
/// allows; ".", "..", empty names, the lengths and the reserved prefix are
/// refused either way.
enum class NameRules { kPortable, kAnyBytes };

/// Why a path was refused, or nullopt when it is valid. `allow_root` accepts
/// the empty path (the root itself).
std::optional<std::string> path_violation(std::string_view path, bool allow_root,
                                          NameRules rules = NameRules::kPortable);
/// Same for a single name (a directory entry a server sent).
std::optional<std::string> component_violation(std::string_view name,
                                               NameRules rules = NameRules::kPortable);
/// Why a symbolic link's target may not be stored verbatim with ARCHIVE
/// (section 5.9), or nullopt: 1 to 4096 bytes, no NUL, and no component
/// with the reserved prefix (in-tree links are followed by reads, and the
/// server's own files are never to be reached). Absolute and climbing
/// targets are stored; the server never resolves them.
std::optional<std::string> archive_target_violation(std::string_view target);
/// Why a symlink at `link_path` (a valid path below the root) may not point
/// to `target`, or nullopt when the target stays inside the tree
/// (docs/protocol.md, section 5.5): relative, no NUL, and never climbing
/// above the root when joined to the link's directory.
std::optional<std::string> symlink_target_violation(std::string_view link_path,
                                                    std::string_view target);
/// True if `s` is well-formed UTF-8 (shortest forms, no surrogates).
bool is_valid_utf8(std::string_view s);
/// True for a code point that is invisible yet changes how the text around
/// it is shown or read: C1 controls (U+0080..U+009F), bidirectional marks,
/// embeddings, overrides and isolates (U+061C, U+200E, U+200F,
/// U+202A..U+202E, U+2066..U+2069), zero-width and invisible characters
/// (U+200B..U+200D, U+2060..U+2064, U+FEFF) and the line and paragraph
/// separators U+2028, U+2029. Never valid in a path (docs/protocol.md,
/// section 6).
bool is_hidden_control(std::uint32_t code_point);
/// Splits a valid path into its components ("" gives none).
std::vector<std::string> split_path(std::string_view path);
/// `s` with every control byte, DEL and invalid UTF-8 byte shown as \xHH,
/// and every byte of a hidden control (is_hidden_control: C1, bidi,
/// zero-width) shown the same way, so peer-supplied text can be printed on a
/// terminal safely and reads as what it is. Other UTF-8 is kept as is.
std::string printable(std::string_view s);

}  // namespace ft
