#pragma once
// The protocol's hard limits (docs/protocol.md, section 8). Every length a
// peer sends is checked against one of these before anything is allocated.
#include <cstddef>
#include <cstdint>

namespace ft::limits {

inline constexpr std::size_t kHelloSize = 16;
inline constexpr std::size_t kFrameHeaderSize = 12;
// With FRAME_CHECK agreed: u32 header_check + u32 payload_check after the header.
inline constexpr std::size_t kFrameCheckSize = 8;
inline constexpr std::uint32_t kMinChunkSize = 4 * 1024;
inline constexpr std::uint32_t kMaxChunkSize = 4 * 1024 * 1024;
inline constexpr std::uint32_t kDefaultChunkSize = 1024 * 1024;
inline constexpr std::size_t kDataPrefixSize = 16;  // u64 offset + u64 chunk hash
inline constexpr std::uint32_t kMaxDataPayload = kDataPrefixSize + kMaxChunkSize;
inline constexpr std::uint32_t kMaxControlPayload = 64 * 1024;
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxComponentBytes = 255;
inline constexpr std::size_t kMaxPathDepth = 64;
inline constexpr std::size_t kMaxRequestsInFlight = 1024;
inline constexpr std::size_t kMaxSourceIdBytes = 255;
inline constexpr int kMaxRewinds = 3;

static_assert(kMinChunkSize <= kDefaultChunkSize && kDefaultChunkSize <= kMaxChunkSize);
// A control frame must hold the longest path plus its fixed fields.
static_assert(kMaxPathBytes + 64 <= kMaxControlPayload);
// A path of maximum depth still fits the byte limit with one-byte components.
static_assert(kMaxPathDepth * 2 <= kMaxPathBytes);
static_assert(kMaxComponentBytes < kMaxPathBytes);

}  // namespace ft::limits
