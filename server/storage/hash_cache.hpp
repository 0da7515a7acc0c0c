#pragma once
// Whole-file XXH3-128 hashes for LIST with HASHES, remembered across
// listings, connections and identities so that a file that did not change
// is not read again (docs/server.md, "Fairness"). A file is known by what
// any change to it changes: device, inode, size, mtime and ctime (to the
// nanosecond). A write, a truncation, a rename over the name (a new inode)
// or a utimensat all move the ctime, which nobody can set back.
//
// One catch is the clock tick: the kernel stamps ctime from a coarse clock,
// and a file system may keep whole seconds only, so a change made in the
// same tick as the one before it leaves ctime as it was. A hash is
// therefore remembered only for a file whose ctime is at least
// kSettleTime older than the moment its hashing started (git's "racily
// clean" rule): any later change then gets a later ctime.
//
// Thread-safe: used from the pool threads that run listing jobs. Bounded:
// at most kMaxEntries, the least recently used forgotten first.
#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/crypto/checksum.hpp"

namespace ft::server {

class HashCache {
 public:
  static constexpr std::size_t kMaxEntries = 4096;
  /// What one entry costs, near enough (key and hash, its list node, its
  /// index node and bucket): counted in docs/server.md, "Memory".
  static constexpr std::size_t kBytesPerEntry = 160;
  /// How much older than the start of its hashing a file's last change must
  /// be for its hash to be remembered: covers file systems that keep whole
  /// seconds (and FAT's two).
  static constexpr std::chrono::seconds kSettleTime{2};

  HashCache() = default;
  HashCache(const HashCache&) = delete;
  HashCache& operator=(const HashCache&) = delete;

  /// The XXH3-128 of the regular file `name` in `dir`, from the cache when
  /// the file is unchanged, else read (without following a symbolic link,
  /// without blocking on anything but a regular file) and remembered when
  /// it settled. Returns 0 or an errno value (EINVAL: not a regular file).
  int hash_file(int dir, const char* name, Hash128& out);

 private:
  struct Key {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  using Order = std::list<std::pair<Key, Hash128>>;

  static Key key_of(const struct stat& st);
  std::optional<Hash128> find(const Key& key);
  void remember(const Key& key, const Hash128& hash);

  std::mutex mutex_;
  Order order_;  // most recently used first
  std::unordered_map<Key, Order::iterator, KeyHash> index_;
};

}  // namespace ft::server
