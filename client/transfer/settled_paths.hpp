#pragma once
// The paths whose outcome a tree run already reported (sent, received,
// failed), kept as 64-bit hashes: a retry walks the tree again on a new
// connection and must neither transfer nor count them twice. 8 bytes per
// file in a deque (no reallocation, so no moment with two copies), the only
// per-file state a tree run keeps: 8 MB for a million files.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <string_view>

#include "common/crypto/checksum.hpp"

namespace ft::client {

class SettledPaths {
 public:
  /// True if an earlier attempt settled `path`. A walk meets each path once
  /// per attempt, so the paths of the running attempt need no lookup: the
  /// first attempt (by far the most common) pays none.
  bool contains(std::string_view path) const { return earlier(key(path)); }
  /// Records `path`; true if no earlier attempt recorded it (report it now).
  bool add(std::string_view path) {
    const std::uint64_t k = key(path);
    if (earlier(k)) return false;
    keys_.push_back(k);
    return true;
  }
  /// A new attempt starts: what the last one settled becomes searchable
  /// (sorted in place, duplicates dropped).
  void new_attempt() {
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    sorted_ = keys_.size();
  }

 private:
  static std::uint64_t key(std::string_view path) {
    return hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(path.data()), path.size()));
  }
  bool earlier(std::uint64_t k) const {
    const auto end = keys_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    return std::binary_search(keys_.begin(), end, k);
  }
  std::deque<std::uint64_t> keys_;  // [0, sorted_) sorted: the earlier attempts'
  std::size_t sorted_ = 0;
};

}  // namespace ft::client
