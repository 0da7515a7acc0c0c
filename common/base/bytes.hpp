#pragma once
// Big-endian encoding into caller-owned buffers and bounds-checked decoding.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline void store_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = std::uint8_t(v >> 8);
  p[1] = std::uint8_t(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (24 - 8 * i));
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::uint8_t(v >> (56 - 8 * i));
}
inline std::uint16_t load_be16(const std::uint8_t* p) {
  return std::uint16_t((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

/// Appends big-endian fields to a caller-owned byte vector.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    grow(2, [&](std::uint8_t* p) { store_be16(p, v); });
  }
  void u32(std::uint32_t v) {
    grow(4, [&](std::uint8_t* p) { store_be32(p, v); });
  }
  void u64(std::uint64_t v) {
    grow(8, [&](std::uint8_t* p) { store_be64(p, v); });
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void raw(ByteSpan bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  /// A u16 length then the bytes; the caller guarantees size <= 65535.
  void str(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }

 private:
  template <typename Store>
  void grow(std::size_t n, Store store) {
    std::size_t at = out_.size();
    out_.resize(at + n);
    store(out_.data() + at);
  }
  Bytes& out_;
};

/// Reads big-endian fields from a span; any read past the end marks the
/// reader failed (sticky) and yields zeros, so callers check ok() once.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan in) : in_(in) {}
  std::uint8_t u8() { return take(1) ? in_[pos_ - 1] : 0; }
  std::uint16_t u16() { return take(2) ? load_be16(&in_[pos_ - 2]) : 0; }
  std::uint32_t u32() { return take(4) ? load_be32(&in_[pos_ - 4]) : 0; }
  std::uint64_t u64() { return take(8) ? load_be64(&in_[pos_ - 8]) : 0; }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  ByteSpan raw(std::size_t n) { return take(n) ? in_.subspan(pos_ - n, n) : ByteSpan{}; }
  std::string str() {
    std::size_t n = u16();
    ByteSpan b = raw(n);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  ByteSpan rest() { return raw(remaining()); }
  std::size_t remaining() const { return in_.size() - pos_; }
  bool ok() const { return ok_; }
  /// True when every byte was consumed and no read failed.
  bool done() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  ByteSpan in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace ft
