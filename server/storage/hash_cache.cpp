#include "server/storage/hash_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "common/base/bytes.hpp"
#include "common/os/fd.hpp"

namespace ft::server {
namespace {

std::int64_t nanoseconds(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::size_t HashCache::KeyHash::operator()(const Key& key) const {
  // The inode and the ctime tell files apart; the rest rarely adds anything.
  std::uint64_t h = key.inode * 0x9E3779B97F4A7C15ULL;
  h ^= static_cast<std::uint64_t>(key.ctime_ns) + 0x517CC1B727220A95ULL + (h << 6) + (h >> 2);
  h ^= key.device + (h << 6) + (h >> 2);
  return static_cast<std::size_t>(h);
}

HashCache::Key HashCache::key_of(const struct stat& st) {
  return Key{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
             static_cast<std::int64_t>(st.st_size), nanoseconds(st.st_mtim),
             nanoseconds(st.st_ctim)};
}

std::optional<Hash128> HashCache::find(const Key& key) {
  std::lock_guard lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, found->second);
  return found->second->second;
}

void HashCache::remember(const Key& key, const Hash128& hash) {
  std::lock_guard lock(mutex_);
  if (auto found = index_.find(key); found != index_.end()) {
    order_.splice(order_.begin(), order_, found->second);
    return;
  }
  if (order_.size() >= kMaxEntries) {
    index_.erase(order_.back().first);
    order_.pop_back();
  }
  order_.emplace_front(key, hash);
  index_.emplace(key, order_.begin());
}

int HashCache::hash_file(int dir, const char* name, Hash128& out) {
  // Taken before anything is read: a change after this moment gets a ctime
  // at or after it (the kernel stamps inodes from this same coarse clock).
  struct timespec started {};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &started);
  int fd = ::openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return errno;
  Fd file(fd);
  struct stat before;
  if (::fstat(fd, &before) != 0) return errno;
  if (!S_ISREG(before.st_mode)) return EINVAL;
  const Key key = key_of(before);
  if (std::optional<Hash128> known = find(key)) {
    out = *known;
    return 0;
  }
  StreamHash128 hash;
  // One buffer per pool thread, reused: listings hash many small files.
  static thread_local Bytes buffer(1024 * 1024);
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    hash.update(ByteSpan(buffer.data(), static_cast<std::size_t>(n)));
  }
  out = hash.digest();
  // Remembered only if nothing changed while it was read and its last
  // change is old enough that a later one cannot share its ctime.
  struct stat after;
  const std::int64_t settled_before =
      nanoseconds(started) - std::chrono::nanoseconds(kSettleTime).count();
  if (::fstat(fd, &after) == 0 && key_of(after) == key && key.ctime_ns < settled_before) {
    remember(key, out);
  }
  return 0;
}

}  // namespace ft::server
