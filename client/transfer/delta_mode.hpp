#pragma once
// When ftsend and ftget transfer a delta against the receiver's older copy
// (--delta, --no-delta; docs/client.md "Delta transfers").
#include <cstdint>

namespace ft::client {

enum class DeltaMode { kAuto, kAlways, kNever };

/// kAuto uses a delta for files of at least this size: below it a full
/// transfer over 1 GbE takes under 0.1 s, less than signing the older copy
/// may.
inline constexpr std::uint64_t kDeltaMinSize = 8 * 1024 * 1024;
/// The older copy must hold at least this much to be worth signing (the
/// server's rule for uploads, docs/protocol.md section 5.12).
inline constexpr std::uint64_t kDeltaMinBasis = 64 * 1024;

}  // namespace ft::client
