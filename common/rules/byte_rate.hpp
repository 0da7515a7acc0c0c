#pragma once
// Byte rates on the command line (--bwlimit): "100000" (bytes per second),
// "512K", "10M", "1.5MiB/s", "2G". Every unit is a power of 1024, whether
// written K, KB or KiB, as in ft's other sizes (--chunk-size,
// --max-file-size); "/s" may follow. Unlike rsync's --bwlimit, a bare number
// counts bytes, not KiB.
#include <cstdint>
#include <optional>
#include <string_view>

namespace ft {

/// The largest rate accepted: 1 TiB/s, far above any link, so that rate
/// arithmetic (rate x seconds) cannot overflow.
inline constexpr std::uint64_t kMaxByteRate = std::uint64_t{1} << 40;

/// Parses a rate in bytes per second; 0 means "no limit". nullopt if
/// malformed, negative, fractional below one byte, or above kMaxByteRate.
std::optional<std::uint64_t> parse_byte_rate(std::string_view text);

}  // namespace ft
