#include "common/os/copy_range.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/os/exact_io.hpp"

namespace ft {
namespace {

constexpr std::size_t kBufferSize = 256 * 1024;

// copy_file_range refuses some pairs of files (across file systems on old
// kernels, special files): the same bytes then go through a buffer.
int copy_through_buffer(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset,
                        std::uint64_t length) {
  std::vector<unsigned char> buffer(
      static_cast<std::size_t>(std::min<std::uint64_t>(kBufferSize, length)));
  while (length > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length));
    if (int err = read_exact_at(from, buffer.data(), n, from_offset)) {
      return err == ENODATA ? EIO : err;
    }
    if (int err = write_exact_at(to, buffer.data(), n, to_offset)) return err;
    from_offset += n;
    to_offset += n;
    length -= n;
  }
  return 0;
}

}  // namespace

int copy_range(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset,
               std::uint64_t length) {
  auto in = static_cast<loff_t>(from_offset);
  auto out = static_cast<loff_t>(to_offset);
  std::uint64_t copied = 0;
  while (copied < length) {
    const ssize_t n =
        ::copy_file_range(from, &in, to, &out, static_cast<std::size_t>(length - copied), 0);
    if (n > 0) {
      copied += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) return EIO;  // `from` is shorter than the caller was told
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) return errno;
    return copy_through_buffer(from, from_offset + copied, to, to_offset + copied, length - copied);
  }
  return 0;
}

}  // namespace ft
