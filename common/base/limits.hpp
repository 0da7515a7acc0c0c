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
// ARCHIVE (section 5.9): an owner or group name, and the extended
// attributes of one file as encoded (count, names, lengths and values).
inline constexpr std::size_t kMaxOwnerNameBytes = 255;
inline constexpr std::size_t kMaxXattrNameBytes = 255;  // XATTR_NAME_MAX
inline constexpr std::size_t kMaxXattrBlockBytes = 32 * 1024;

static_assert(kMinChunkSize <= kDefaultChunkSize && kDefaultChunkSize <= kMaxChunkSize);
// A control frame must hold the longest path plus its fixed fields.
static_assert(kMaxPathBytes + 64 <= kMaxControlPayload);
// A path of maximum depth still fits the byte limit with one-byte components.
static_assert(kMaxPathDepth * 2 <= kMaxPathBytes);
static_assert(kMaxComponentBytes < kMaxPathBytes);
// The largest ENTRIES entry (name, fixed fields, hash, target, owners, link
// key, attributes) and the largest ATTRS fit one control frame.
static_assert(4 + 2 + kMaxComponentBytes + 21 + 16 + 2 + kMaxPathBytes + 8 +
                  2 * (2 + kMaxOwnerNameBytes) + 8 + kMaxXattrBlockBytes <=
              kMaxControlPayload);

}  // namespace ft::limits
