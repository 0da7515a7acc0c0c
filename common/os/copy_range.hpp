#pragma once
// Copies a byte range from one file into another without passing it
// through user space where the kernel can (copy_file_range: a reflink on
// file systems that have them), through a buffer where it cannot.
#include <cstdint>

namespace ft {

/// Copies `length` bytes of `from` at `from_offset` to `to` at `to_offset`.
/// Returns 0, an errno value, or EIO if `from` ends first (it shrank).
int copy_range(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset,
               std::uint64_t length);

}  // namespace ft
