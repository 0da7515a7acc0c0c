#pragma once
// Sparse files (SPARSE, docs/protocol.md section 5.9): finding the data of
// a file with SEEK_DATA / SEEK_HOLE, and leaving a range as a hole.
#include <cstdint>

namespace ft {

/// The next range of data at or after `from` in a file of `size` bytes:
/// [start, end). start == size when only a hole is left. A file system
/// without SEEK_DATA reports the whole rest as data. 0 or an errno value.
int next_data_range(int fd, std::uint64_t from, std::uint64_t size, std::uint64_t& start,
                    std::uint64_t& end);

/// Makes [offset, offset + length) of the file read as zeros without
/// writing them: what the file holds there is punched out
/// (FALLOC_FL_PUNCH_HOLE; zeros are written where the file system cannot
/// punch) and a file shorter than the end is extended. 0 or an errno value.
int write_hole(int fd, std::uint64_t offset, std::uint64_t length);

}  // namespace ft
