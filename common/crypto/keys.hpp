#pragma once
// Key files (docs/server.md "Keys", docs/client.md "Keys"):
//
// The server's keys file (ftserve --keys FILE), mode 0600, one identity per
// line, '#' starts a comment line:
//   <id> <key: 64 hex> <rights: list,read,create,overwrite,delete> <subdir or -> <name>
// e.g.
//   5f0c1e7a9b2d4c68a1e3f5b7d9c0e2a4 <64 hex> list,read,create laptop laptop
//
// A client's key file (ftsend/ftget/ftls --key-file FILE or FT_KEY_FILE),
// mode 0600, printed once by `ftserve keys add`:
//   # ft client key for NAME
//   identity <id>
//   key <64 hex>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/tls_engine.hpp"

namespace ft {

enum Right : std::uint32_t {
  kRightList = 1,
  kRightRead = 2,
  kRightCreate = 4,
  kRightOverwrite = 8,
  kRightDelete = 16,
  // Set files' owners and groups (ATTRS, docs/protocol.md section 5.9):
  // never a default, and not among kAllRights, which open mode grants.
  kRightOwner = 32,
};
inline constexpr std::uint32_t kAllRights =
    kRightList | kRightRead | kRightCreate | kRightOverwrite | kRightDelete;
inline constexpr std::uint32_t kDefaultRights = kRightList | kRightRead | kRightCreate;

/// "list,read,create" <-> bits; nullopt on an unknown word or empty text.
std::optional<std::uint32_t> parse_rights(const std::string& text);
std::string format_rights(std::uint32_t rights);

struct KeyEntry {
  PskKey key;  // key.identity is the opaque wire id (32 hex)
  std::uint32_t rights = kDefaultRights;
  std::string subdir;  // "" = the whole root; else a relative path
  std::string name;    // human label, unique in the file
  // Limits on what the identity's sub-directory holds (0: none); only for
  // an identity with a sub-directory (docs/server.md "Quotas").
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
};

/// Parses a server keys file's text; on error returns nullopt with `why`
/// naming the line. Duplicate ids or names are errors.
std::optional<std::vector<KeyEntry>> parse_keys_file(const std::string& text, std::string& why);
std::string format_keys_file(const std::vector<KeyEntry>& entries);
/// A keys file's QUOTA field, "BYTES:FILES" with '-' for no limit (0).
bool parse_quota(const std::string& text, std::uint64_t& bytes, std::uint64_t& files);
std::string format_quota(const KeyEntry& entry);

std::optional<PskKey> parse_client_key(const std::string& text, std::string& why);
std::string format_client_key(const KeyEntry& entry);

/// Reads a key file after checking it is a regular file (not a symbolic
/// link), owned by this user or root, not accessible by group or others
/// (mode & 077 == 0); `why` says what is wrong, e.g. "keys.txt is
/// accessible by group/others (mode 0644): chmod 600 keys.txt". From then
/// on the process is not dumpable (no core file carries the keys); the
/// caller wipe()s the text once parsed.
std::optional<std::string> read_private_file(const std::string& path, std::string& why);
/// The largest key file read_private_file() accepts.
inline constexpr std::size_t kMaxKeyFileBytes = 1024 * 1024;
/// Overwrites a string that held key material, then empties it.
void wipe(std::string& secret);

/// A new entry with a random id and a random 256-bit key (OpenSSL RAND).
KeyEntry new_key_entry(std::string name, std::uint32_t rights, std::string subdir);

}  // namespace ft
