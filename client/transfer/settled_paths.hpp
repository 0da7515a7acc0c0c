#pragma once
// The paths whose outcome a tree run already reported (sent, received,
// failed), kept as 64-bit hashes: a retry walks the tree again on a new
// connection and must neither transfer nor count them twice. About 40 bytes
// per file, the only per-file state a tree run keeps.
#include <cstdint>
#include <string_view>
#include <unordered_set>

#include "common/crypto/checksum.hpp"

namespace ft::client {

class SettledPaths {
 public:
  bool contains(std::string_view path) const { return keys_.contains(key(path)); }
  /// Records `path`; true if it was not recorded yet (report it now).
  bool add(std::string_view path) { return keys_.insert(key(path)).second; }

 private:
  static std::uint64_t key(std::string_view path) {
    return hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(path.data()), path.size()));
  }
  std::unordered_set<std::uint64_t> keys_;
};

}  // namespace ft::client
