#pragma once
// XXH3 checksums as the protocol uses them: XXH3-64 per chunk, streamed
// XXH3-128 per file, both seed 0, 128-bit values in canonical big-endian form.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "common/base/bytes.hpp"

namespace ft {

struct Hash128 {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
  /// The 16-byte canonical form (high half first, big-endian).
  std::array<std::uint8_t, 16> canonical() const;
  static Hash128 from_canonical(const std::uint8_t* bytes);
  /// 32 lowercase hex digits of the canonical form.
  std::string hex() const;
};

std::uint64_t hash64(ByteSpan bytes);
Hash128 hash128(ByteSpan bytes);

/// Streaming XXH3-128: update() in any split gives the same digest as
/// hash128() of the concatenation.
class StreamHash128 {
 public:
  StreamHash128();
  ~StreamHash128();
  StreamHash128(StreamHash128&&) noexcept;
  StreamHash128& operator=(StreamHash128&&) noexcept;
  void reset();
  void update(ByteSpan bytes);
  Hash128 digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Adds `count` zero bytes to `hash`: a hole of a sparse file, hashed
/// without being read (SPARSE, docs/protocol.md section 5.9).
void hash_zeros(StreamHash128& hash, std::uint64_t count);

}  // namespace ft
