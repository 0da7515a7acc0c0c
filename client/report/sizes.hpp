#pragma once
// How byte counts are written for people: binary units ("1.5 MiB") in the
// progress line and summaries, ls -h's short form ("1.5K") in ftls -l -h,
// and digit groups ("100,016") in --stats.
#include <cstdint>
#include <string>

namespace ft::client {

/// "312 B", "1.5 MiB": powers of 1024, one decimal from KiB up.
std::string human_bytes(double bytes);
/// human_bytes() without the space ("1.5MiB"), for the narrow progress line.
std::string compact_bytes(double bytes);
/// ls -h's form: "312", "1.5K", "17K", "3.2M" (powers of 1024, rounded up,
/// one decimal below 10).
std::string short_size(std::uint64_t bytes);
/// "100,016": the digits in groups of three.
std::string grouped(std::uint64_t n);
/// A size in a summary: "100016 bytes", or with `human` "97.7 KiB".
std::string size_text(std::uint64_t bytes, bool human);

}  // namespace ft::client
