#pragma once
// Lowercase hexadecimal text: hashes on the wire's text forms, key files,
// partial-file names and escaped display bytes all spell bytes this way.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ft {

/// The hex digit of a value 0..15.
inline char hex_digit_of(unsigned value) {
  return "0123456789abcdef"[value & 15];
}

/// Appends two lowercase hex digits per byte to `out`.
void append_hex(std::string& out, const std::uint8_t* data, std::size_t size);

/// Two lowercase hex digits per byte.
std::string hex_of(const std::uint8_t* data, std::size_t size);

/// `value` as exactly 16 lowercase hex digits (big-endian digit order).
std::string hex_of_u64(std::uint64_t value);

/// The value of one hex digit (either case), or -1.
int hex_value(char c);

}  // namespace ft
