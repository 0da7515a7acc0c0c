#pragma once
// Modification times as the protocol carries them (signed nanoseconds since
// the epoch) and as the kernel takes them (struct timespec), both ways.
#include <sys/stat.h>

#include <cstdint>
#include <ctime>

namespace ft {

/// st_mtim as nanoseconds since the epoch.
std::int64_t mtime_ns_of(const struct stat& st);

/// st_ctim as nanoseconds since the epoch.
std::int64_t ctime_ns_of(const struct stat& st);

/// Whether a file's content may be taken as unchanged between two fstat()s
/// of the same open file: same size, mtime and ctime. The ctime is what
/// catches a rewrite whose mtime was put back (utimensat itself moves the
/// ctime, and no user can set it); it also moves on a chmod or a new hard
/// link, which then count as changes too (a false alarm, never a miss).
bool unchanged_since(const struct stat& before, const struct stat& now);

/// Nanoseconds since the epoch as a timespec; floor division keeps times
/// before 1970 valid (tv_nsec stays in 0..999,999,999).
struct timespec timespec_of_ns(std::int64_t ns);

/// The utimensat/futimens pair that leaves atime alone and sets mtime.
void mtime_times(std::int64_t mtime_ns, struct timespec times[2]);

}  // namespace ft
