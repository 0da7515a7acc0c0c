#pragma once
// ft_test_proxy's --flip-every: damage DATA bytes only, following the frames
// of the client -> server stream (with or without FRAME_CHECK blocks).
#include <cstddef>
#include <cstdint>

namespace proxy {

/// Follows the client -> server frames to find the bytes DATA frames carry,
/// and flips one of them every `every` such bytes (--flip-every).
class DataCorrupter {
 public:
  explicit DataCorrupter(std::uint64_t every) : every_(every) {}

  void apply(unsigned char* bytes, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) step(bytes[i]);
  }

 private:
  static constexpr std::size_t kHelloSize = 16;
  static constexpr std::size_t kHeaderSize = 12;
  static constexpr std::size_t kCheckSize = 8;
  static constexpr unsigned char kFrameCheckBits = 0x18;
  static constexpr std::uint8_t kDataType = 0x03;
  static constexpr std::uint64_t kDataPrefixSize = 16;  // offset and chunk hash

  void step(unsigned char& byte) {
    if (hello_left_ > 0) {
      // Byte 15 is the low byte of the capabilities: a client offering
      // both FRAME_CHECK bits gets them from ftserve, and its frame headers
      // grow by the 8-byte check block (docs/protocol.md section 3.1).
      if (hello_left_ == 1 && (byte & kFrameCheckBits) == kFrameCheckBits) {
        header_size_ = kHeaderSize + kCheckSize;
      }
      --hello_left_;
      return;
    }
    if (payload_left_ == 0) {
      header_[header_have_++] = byte;
      if (header_have_ == header_size_) {
        header_have_ = 0;
        payload_left_ = (std::uint64_t{header_[8]} << 24) | (std::uint64_t{header_[9]} << 16) |
                        (std::uint64_t{header_[10]} << 8) | std::uint64_t{header_[11]};
        in_data_ = header_[0] == kDataType;
        prefix_left_ = in_data_ ? kDataPrefixSize : 0;
      }
      return;
    }
    --payload_left_;
    if (!in_data_) return;
    if (prefix_left_ > 0) {
      --prefix_left_;
      return;
    }
    if (++since_flip_ >= every_) {
      byte ^= 0xFF;
      since_flip_ = 0;
    }
  }

  std::uint64_t every_;
  std::size_t hello_left_ = kHelloSize;
  std::size_t header_size_ = kHeaderSize;
  unsigned char header_[kHeaderSize + kCheckSize] = {};
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
  bool in_data_ = false;
  std::uint64_t prefix_left_ = 0;
  std::uint64_t since_flip_ = 0;
};

}  // namespace proxy
