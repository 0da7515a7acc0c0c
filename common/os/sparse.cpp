#include "common/os/sparse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/os/exact_io.hpp"

namespace ft {

int next_data_range(int fd, std::uint64_t from, std::uint64_t size, std::uint64_t& start,
                    std::uint64_t& end) {
  start = from;
  end = size;
  if (from >= size) return 0;
  const off_t data = ::lseek(fd, static_cast<off_t>(from), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) {  // nothing but a hole up to the end
      start = size;
      return 0;
    }
    if (errno == EINVAL || errno == EOPNOTSUPP) return 0;  // no SEEK_DATA: all data
    return errno;
  }
  start = std::min<std::uint64_t>(static_cast<std::uint64_t>(data), size);
  const off_t hole = ::lseek(fd, data, SEEK_HOLE);
  if (hole < 0) return errno == ENXIO ? 0 : errno;
  end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size);
  if (end <= start) end = size;  // the file changed meanwhile: treat the rest as data
  return 0;
}

int DataRangeCursor::next(int fd, std::uint64_t from, std::uint64_t size, std::uint64_t& start,
                          std::uint64_t& end) {
  if (!may_have_holes_ || (from >= data_start_ && from < data_end_)) {
    start = from;
    end = may_have_holes_ ? std::min(data_end_, size) : size;
    return 0;
  }
  if (int err = next_data_range(fd, from, size, start, end)) return err;
  data_start_ = start;
  data_end_ = end;
  return 0;
}

int write_hole(int fd, std::uint64_t offset, std::uint64_t length) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno;
  const std::uint64_t end = offset + length;
  const auto current = static_cast<std::uint64_t>(st.st_size);
  if (current > offset) {
    const std::uint64_t stop = std::min(current, end);
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(stop - offset)) != 0) {
      if (errno != EOPNOTSUPP) return errno;
      // No punching here: zeros, written in pieces of bounded size.
      static const std::vector<char> zeros(1 << 16, 0);
      for (std::uint64_t at = offset; at < stop;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), stop - at));
        if (int err = write_exact_at(fd, zeros.data(), n, at)) return err;
        at += n;
      }
    }
  }
  if (current < end && ::ftruncate(fd, static_cast<off_t>(end)) != 0) return errno;
  return 0;
}

}  // namespace ft
