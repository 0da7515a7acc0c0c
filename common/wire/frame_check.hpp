#pragma once
// FRAME_CHECK (docs/protocol.md, section 3.1): with the capability agreed,
// every frame carries 8 more bytes right after its 12-byte header,
//   u32 header_check   low 32 bits of XXH3-64 (seed 0) of the 12 header bytes
//   u32 payload_check  low 32 bits of XXH3-64 (seed 0) of the covered payload
// where the covered payload is the whole payload, except for DATA: its first
// 16 bytes (offset and chunk hash), the bytes being covered by chunk_hash.
// The decoder verifies them (FrameDecoder::set_frame_check); these helpers
// add them on the sending side.
#include <cstdint>

#include "common/base/bytes.hpp"
#include "common/wire/frame.hpp"

namespace ft {

/// The header_check of a 12-byte header.
std::uint32_t header_check(const std::uint8_t* header);
/// The part of a frame's payload the payload_check covers.
ByteSpan covered_payload(std::uint8_t type, ByteSpan payload);
/// The payload_check of a frame of `type` with this payload (whole, or for
/// DATA at least its 16-byte prefix).
std::uint32_t payload_check(std::uint8_t type, ByteSpan payload);

/// Returns `frames` (whole frames back to back, as the encoders of
/// messages.hpp append them) with the check block inserted after each
/// header. Throws std::invalid_argument if the bytes do not end on a frame.
Bytes add_frame_checks(ByteSpan frames);
/// Inserts the check block into a DATA head (encode_data_head, 28 bytes):
/// the result is the 36 bytes that precede the chunk on the wire.
Bytes add_data_head_check(ByteSpan head);

}  // namespace ft
