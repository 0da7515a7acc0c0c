#include "client/local/basis_signer.hpp"

#include <algorithm>
#include <thread>

#include "common/os/exact_io.hpp"

namespace ft::client {
namespace {

// The basis is read this much at a time.
constexpr std::size_t kSignRead = 1024 * 1024;

// Feeds `builder` its blocks' bytes, read from `from`; false if a read
// fails or falls short. Never throws.
bool sign_slice(int fd, std::uint64_t from, delta::SignatureBuilder& builder) noexcept {
  try {
    Bytes buffer(static_cast<std::size_t>(std::min<std::uint64_t>(kSignRead, builder.needed())));
    for (std::uint64_t at = 0; at < builder.needed();) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kSignRead, builder.needed() - at));
      if (read_exact_at(fd, buffer.data(), n, from + at) != 0) return false;
      builder.feed(ByteSpan(buffer).first(n));
      at += n;
    }
    return true;
  } catch (...) {
    return false;  // no memory for the buffer or the blocks: no signature
  }
}

}  // namespace

std::vector<delta::SignaturePart> sign_basis(int fd, std::uint64_t size, unsigned threads) {
  const std::uint32_t block_size = delta::block_size_for(size);
  const std::uint32_t blocks = delta::block_count_for(size, block_size);
  const std::uint32_t half = threads > 1 && size >= kSignInHalvesAt ? blocks / 2 : blocks;
  delta::SignatureBuilder first(size, 0, half);
  if (half == blocks) {
    if (!sign_slice(fd, 0, first)) return {};
    return first.parts();
  }
  // The second half on a thread of its own, joined before returning: both
  // halves read the page cache (or the disk) and hash at once, which halves
  // the wait on a machine with a CPU to spare.
  delta::SignatureBuilder second(size, half, blocks);
  bool second_ok = false;
  std::thread helper;
  try {
    helper =
        std::thread([&] { second_ok = sign_slice(fd, std::uint64_t{half} * block_size, second); });
  } catch (...) {
    // No thread: this one signs both halves in turn.
    second_ok = sign_slice(fd, std::uint64_t{half} * block_size, second);
  }
  const bool first_ok = sign_slice(fd, 0, first);
  if (helper.joinable()) helper.join();
  if (!first_ok || !second_ok || !first.join(std::move(second))) return {};
  return first.parts();
}

}  // namespace ft::client
