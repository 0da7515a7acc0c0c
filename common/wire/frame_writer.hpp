#pragma once
// How every control message is appended: the header reserved, the payload
// written by the caller, then the length filled in. Shared by the message
// files of common/wire.
#include <cstdint>
#include <string>

#include "common/base/bytes.hpp"
#include "common/base/limits.hpp"
#include "common/wire/frame.hpp"

namespace ft {

/// Encodes a control frame: reserves the header, lets `body` append the
/// payload, then fills in the length.
template <typename Body>
void encode_frame(Bytes& out, FrameType type, std::uint8_t flags, std::uint32_t id, Body body) {
  std::size_t head = out.size();
  out.resize(head + limits::kFrameHeaderSize);
  ByteWriter w(out);
  body(w);
  FrameHeader h{type, flags, id,
                static_cast<std::uint32_t>(out.size() - head - limits::kFrameHeaderSize)};
  encode_header_to(out.data() + head, h);
}

/// True if `s` is at most `max` bytes and holds no NUL.
inline bool string_ok(const std::string& s, std::size_t max) {
  return s.size() <= max && s.find('\0') == std::string::npos;
}

}  // namespace ft
