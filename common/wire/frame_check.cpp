#include "common/wire/frame_check.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/crypto/checksum.hpp"

namespace ft {

std::uint32_t header_check(const std::uint8_t* header) {
  return static_cast<std::uint32_t>(hash64(ByteSpan(header, limits::kFrameHeaderSize)));
}

ByteSpan covered_payload(std::uint8_t type, ByteSpan payload) {
  // DATA's bytes already travel under chunk_hash; hashing them twice would
  // cost a second pass over every chunk for nothing. What chunk_hash does
  // not cover (the header's id and length, the offset) is covered here.
  if (type == static_cast<std::uint8_t>(FrameType::kData)) {
    return payload.first(std::min(payload.size(), limits::kDataPrefixSize));
  }
  return payload;
}

std::uint32_t payload_check(std::uint8_t type, ByteSpan payload) {
  return static_cast<std::uint32_t>(hash64(covered_payload(type, payload)));
}

namespace {

void append_checked(Bytes& out, const std::uint8_t* header, ByteSpan payload) {
  const std::size_t at = out.size();
  out.resize(at + limits::kFrameHeaderSize + limits::kFrameCheckSize);
  std::copy(header, header + limits::kFrameHeaderSize, out.data() + at);
  store_be32(out.data() + at + limits::kFrameHeaderSize, header_check(header));
  store_be32(out.data() + at + limits::kFrameHeaderSize + 4, payload_check(header[0], payload));
  out.insert(out.end(), payload.begin(), payload.end());
}

}  // namespace

Bytes add_frame_checks(ByteSpan frames) {
  Bytes out;
  out.reserve(frames.size() + limits::kFrameCheckSize);
  std::size_t at = 0;
  while (at < frames.size()) {
    if (frames.size() - at < limits::kFrameHeaderSize) {
      throw std::invalid_argument("add_frame_checks: bytes end inside a frame header");
    }
    const std::uint8_t* header = frames.data() + at;
    const std::size_t length = load_be32(header + 8);
    if (frames.size() - at - limits::kFrameHeaderSize < length) {
      throw std::invalid_argument("add_frame_checks: bytes end inside a payload");
    }
    append_checked(out, header, frames.subspan(at + limits::kFrameHeaderSize, length));
    at += limits::kFrameHeaderSize + length;
  }
  return out;
}

Bytes add_data_head_check(ByteSpan head) {
  if (head.size() != limits::kFrameHeaderSize + limits::kDataPrefixSize) {
    throw std::invalid_argument("add_data_head_check: not a DATA head");
  }
  Bytes out;
  out.reserve(head.size() + limits::kFrameCheckSize);
  append_checked(out, head.data(), head.subspan(limits::kFrameHeaderSize));
  return out;
}

}  // namespace ft
