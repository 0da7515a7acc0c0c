#include "common/os/mtime.hpp"

namespace ft {

namespace {
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * kNanosPerSecond + st.st_mtim.tv_nsec;
}

std::int64_t ctime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_ctim.tv_sec) * kNanosPerSecond + st.st_ctim.tv_nsec;
}

bool unchanged_since(const struct stat& before, const struct stat& now) {
  return now.st_size == before.st_size && mtime_ns_of(now) == mtime_ns_of(before) &&
         ctime_ns_of(now) == ctime_ns_of(before);
}

struct timespec timespec_of_ns(std::int64_t ns) {
  std::int64_t sec = ns / kNanosPerSecond;
  std::int64_t nsec = ns % kNanosPerSecond;
  if (nsec < 0) {
    nsec += kNanosPerSecond;
    sec -= 1;
  }
  struct timespec out {};
  out.tv_sec = static_cast<time_t>(sec);
  out.tv_nsec = static_cast<long>(nsec);
  return out;
}

void mtime_times(std::int64_t mtime_ns, struct timespec times[2]) {
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1] = timespec_of_ns(mtime_ns);
}

}  // namespace ft
