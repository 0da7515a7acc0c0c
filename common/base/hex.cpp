#include "common/base/hex.hpp"

namespace ft {

void append_hex(std::string& out, const std::uint8_t* data, std::size_t size) {
  out.reserve(out.size() + size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(hex_digit_of(data[i] >> 4));
    out.push_back(hex_digit_of(data[i]));
  }
}

std::string hex_of(const std::uint8_t* data, std::size_t size) {
  std::string out;
  append_hex(out, data, size);
  return out;
}

std::string hex_of_u64(std::uint64_t value) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<std::size_t>(i)] = hex_digit_of(value);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace ft
