#pragma once
// The signature of a local file (docs/protocol.md, section 5.16): ftget
// signs its older copy before a delta download's data can flow, so the
// time it takes is added to the download.
#include <cstdint>
#include <vector>

#include "common/delta/block_signature.hpp"

namespace ft::client {

/// A basis at least this big is signed in two halves at once (one on a
/// thread of its own) when the machine has more than one CPU.
inline constexpr std::uint64_t kSignInHalvesAt = 16 * 1024 * 1024;

/// Reads the first `size` bytes of `fd` and returns their signature's
/// parts, in order; none if a read fails or falls short (a basis that
/// shrank or failed meanwhile is simply not used). `threads` above 1 signs
/// a basis of kSignInHalvesAt bytes or more in two halves at once.
std::vector<delta::SignaturePart> sign_basis(int fd, std::uint64_t size, unsigned threads);

}  // namespace ft::client
