#pragma once
// The weak, rolling checksum of delta transfers (docs/protocol.md, section
// 5.12): rsync's two 16-bit sums (a = sum of bytes + 31, b = sum of the
// running a's) over a window of bytes, updated in O(1) when the window
// slides by one byte, so that a block of the old file can be found at any
// offset of the new one. It only preselects candidates: a match is
// confirmed by the block's XXH3-64.
#include <cstddef>
#include <cstdint>

#include "common/base/bytes.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ft {

class RollingChecksum {
 public:
  /// The sum of the window `bytes` (its length is the window size).
  void reset(ByteSpan bytes) {
    // b is the sum of the running a's, that is sum((n - i) * (x_i + 31)):
    // two independent sums instead of a chain through a (signing a 1 GiB
    // file sums every byte once). Arithmetic is modulo 2^32, as in roll().
    const auto n = static_cast<std::uint32_t>(bytes.size());
    const std::uint8_t* x = bytes.data();
    std::uint32_t sum = 0;
    std::uint32_t weighted = 0;
    std::uint32_t i = 0;
#if defined(__SSE2__)
    // 16 bytes at a time: for chunk k of K, sum((n - 16k - j) * x_j) =
    // sum((16 - j) * x_j) + (16 (K - 1 - k) + tail) * S_k, S_k its bytes'
    // sum; sum(16 (K - 1 - k) S_k) comes from the running sum of the S_k.
    const std::uint32_t chunks = n / 16;
    const std::uint32_t tail = n - 16 * chunks;
    const __m128i zero = _mm_setzero_si128();
    const __m128i weights_low = _mm_setr_epi16(16, 15, 14, 13, 12, 11, 10, 9);
    const __m128i weights_high = _mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1);
    __m128i running = zero;     // sum of S_m for m <= k (two 64-bit lanes)
    __m128i of_running = zero;  // sum over k of `running`
    __m128i in_chunk = zero;    // sum of (16 - j) * x_j (four 32-bit lanes)
    for (std::uint32_t k = 0; k < chunks; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16 * k));
      running = _mm_add_epi64(running, _mm_sad_epu8(v, zero));
      of_running = _mm_add_epi64(of_running, running);
      in_chunk = _mm_add_epi32(in_chunk, _mm_madd_epi16(_mm_unpacklo_epi8(v, zero), weights_low));
      in_chunk = _mm_add_epi32(in_chunk, _mm_madd_epi16(_mm_unpackhi_epi8(v, zero), weights_high));
    }
    auto lanes64 = [](__m128i v) {
      return static_cast<std::uint32_t>(_mm_cvtsi128_si32(v)) +
             static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_srli_si128(v, 8)));
    };
    in_chunk = _mm_add_epi32(in_chunk, _mm_srli_si128(in_chunk, 8));
    in_chunk = _mm_add_epi32(in_chunk, _mm_srli_si128(in_chunk, 4));
    sum = lanes64(running);
    weighted = static_cast<std::uint32_t>(_mm_cvtsi128_si32(in_chunk)) +
               16 * (lanes64(of_running) - sum) + tail * sum;
    i = 16 * chunks;
#endif
    for (; i < n; ++i) {
      sum += x[i];
      weighted += (n - i) * static_cast<std::uint32_t>(x[i]);
    }
    count_ = n;
    a_ = sum + n * kOffset;
    b_ = weighted + kOffset * static_cast<std::uint32_t>(std::uint64_t{n} * (n + 1) / 2);
  }
  /// Slides the window by one byte: `out` leaves at its start, `in` enters
  /// at its end.
  void roll(std::uint8_t out, std::uint8_t in) {
    a_ += static_cast<std::uint32_t>(in) - out;
    b_ += a_ - count_ * (static_cast<std::uint32_t>(out) + kOffset);
  }
  /// The 32-bit value on the wire: b in the high half, a in the low half.
  std::uint32_t value() const {
    return (b_ << 16) | (a_ & 0xffff);
  }

 private:
  // rsync's CHAR_OFFSET: runs of zero bytes still move the sums.
  static constexpr std::uint32_t kOffset = 31;
  std::uint32_t a_ = 0;
  std::uint32_t b_ = 0;
  std::uint32_t count_ = 0;
};

/// The weak checksum of one block, in one go.
inline std::uint32_t rolling_checksum(ByteSpan bytes) {
  RollingChecksum sum;
  sum.reset(bytes);
  return sum.value();
}

}  // namespace ft
