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

/// next_data_range() for a file read from its start to its end, chunk by
/// chunk. It remembers the range of data it last found, so a stretch of
/// data costs one SEEK_DATA/SEEK_HOLE pair, not one per chunk: on tmpfs a
/// seek walks the page cache from its offset to the next hole, so a seek
/// per chunk made reading a dense 1 GiB file quadratic (36 MiB/s). A file
/// whose blocks cover its size has no hole and is never sought at all.
class DataRangeCursor {
 public:
  /// `may_have_holes`: the file's allocated blocks are fewer than its size
  /// needs (st_blocks * 512 < st_size).
  explicit DataRangeCursor(bool may_have_holes) : may_have_holes_(may_have_holes) {}
  /// As next_data_range(); the file is assumed not to gain holes meanwhile
  /// (a hole read as data is zeros all the same).
  int next(int fd, std::uint64_t from, std::uint64_t size, std::uint64_t& start,
           std::uint64_t& end);

 private:
  bool may_have_holes_;
  std::uint64_t data_start_ = 0;
  std::uint64_t data_end_ = 0;  // [data_start_, data_end_): data found last
};

/// Makes [offset, offset + length) of the file read as zeros without
/// writing them: what the file holds there is punched out
/// (FALLOC_FL_PUNCH_HOLE; zeros are written where the file system cannot
/// punch) and a file shorter than the end is extended. 0 or an errno value.
int write_hole(int fd, std::uint64_t offset, std::uint64_t length);

}  // namespace ft
