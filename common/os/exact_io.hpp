#pragma once
// Whole reads and writes at an offset: pread/pwrite retried after EINTR and
// short transfers, so that callers see all the bytes or an errno value.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace ft {

/// Writes all `size` bytes at `offset`. Returns 0 or an errno value (EIO if
/// the file system accepted nothing without saying why).
int write_exact_at(int fd, const void* data, std::size_t size, std::uint64_t offset);

/// Writes all `size` bytes to a stream (a pipe, a terminal, a socket, a
/// file at its position), waiting in poll() when a non-blocking descriptor
/// is full. Returns 0 or an errno value (EPIPE: the reader went away).
int write_all(int fd, const void* data, std::size_t size);

/// Reads exactly `size` bytes at `offset`. Returns 0, an errno value, or
/// ENODATA if the file ends first (it was truncated under us).
int read_exact_at(int fd, void* out, std::size_t size, std::uint64_t offset);

}  // namespace ft
