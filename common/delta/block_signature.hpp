#pragma once
// Block signatures of delta transfers (docs/protocol.md, section 5.12):
// the receiver of a file cuts its older copy (the basis) into blocks and
// sends, per block, a weak rolling checksum and an XXH3-64; the sender
// finds those blocks in the new file at any offset (BlockIndex,
// DeltaMatcher) and sends only the rest. The sizes here bound what either
// side holds for a signature, whatever the file size.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/base/limits.hpp"

namespace ft::delta {

inline constexpr std::uint32_t kMinBlockSize = 4 * 1024;
inline constexpr std::uint32_t kMaxBlockSize = limits::kMaxChunkSize;
/// Blocks one signature may hold: a basis larger than kMaxBlocks ×
/// kMaxBlockSize (64 GiB) is signed over its first 64 GiB only.
inline constexpr std::uint32_t kMaxBlocks = 16384;
/// Blocks per SIGNATURE frame, and the frame's fixed fields before them.
inline constexpr std::uint32_t kBlocksPerFrame = 4096;
inline constexpr std::size_t kSignatureHeadSize = 8 + 4 + 4 + 4;
inline constexpr std::size_t kBlockSumSize = 4 + 8;
static_assert(kSignatureHeadSize + kBlocksPerFrame * kBlockSumSize <= limits::kMaxControlPayload);
static_assert(kMaxBlocks % kBlocksPerFrame == 0);
/// What a whole signature costs on the wire at most (frames of the
/// largest signature, headers included).
inline constexpr std::size_t kMaxSignatureWireBytes =
    (kMaxBlocks / kBlocksPerFrame) *
        (limits::kFrameHeaderSize + limits::kFrameCheckSize + kSignatureHeadSize) +
    kMaxBlocks * kBlockSumSize;

/// One block's sums.
struct BlockSum {
  std::uint32_t weak = 0;    // RollingChecksum of the block
  std::uint64_t strong = 0;  // XXH3-64 of the block
  friend bool operator==(const BlockSum&, const BlockSum&) = default;
};

/// The sums of one block.
BlockSum block_sum(ByteSpan block);

/// The block size for a basis of `basis_size` bytes: the smallest power of
/// two from kMinBlockSize to kMaxBlockSize that cuts it into at most
/// kMaxBlocks blocks.
std::uint32_t block_size_for(std::uint64_t basis_size);
/// Whole blocks of `block_size` in the basis, at most kMaxBlocks (a final
/// partial block is not signed).
std::uint32_t block_count_for(std::uint64_t basis_size, std::uint32_t block_size);

/// One SIGNATURE frame's content: `count` block sums from `first_block` on.
struct SignaturePart {
  std::uint64_t basis_size = 0;
  std::uint32_t block_size = 0;
  std::uint32_t first_block = 0;
  std::vector<BlockSum> blocks;
  friend bool operator==(const SignaturePart&, const SignaturePart&) = default;
};

/// A whole signature, assembled from its parts in order.
class Signature {
 public:
  /// Appends a part; the first one fixes basis_size and block_size, which
  /// the next ones must repeat. Returns why a part is refused (out of order,
  /// a block size that is not the rule's, more blocks than the basis has).
  std::optional<std::string> add(const SignaturePart& part);
  /// All of the basis's blocks are here (a signature of 0 blocks is
  /// complete with its one part).
  bool complete() const { return started_ && blocks_.size() == expected_; }
  bool started() const { return started_; }
  std::uint64_t basis_size() const { return basis_size_; }
  std::uint32_t block_size() const { return block_size_; }
  const std::vector<BlockSum>& blocks() const { return blocks_; }
  /// Memory held for the blocks, for accounting.
  std::size_t memory() const { return blocks_.capacity() * sizeof(BlockSum); }

 private:
  bool started_ = false;
  std::uint64_t basis_size_ = 0;
  std::uint32_t block_size_ = 0;
  std::uint32_t expected_ = 0;
  std::vector<BlockSum> blocks_;
};

/// Builds a signature's parts block by block from the basis's bytes, fed in
/// order in any split.
class SignatureBuilder {
 public:
  explicit SignatureBuilder(std::uint64_t basis_size);
  /// A builder of blocks [first_block, end_block) only, fed the basis from
  /// first_block's offset on: one slice of a signature built by several
  /// threads, the slices then put together with join().
  SignatureBuilder(std::uint64_t basis_size, std::uint32_t first_block, std::uint32_t end_block);
  /// Bytes of the basis (or of the slice) that still matter (up to the
  /// last whole block).
  std::uint64_t needed() const { return needed_; }
  /// Appends the blocks of `next`, the slice that starts where this one
  /// ends; both were fed all they needed. Returns false (and takes
  /// nothing) for another slice.
  bool join(SignatureBuilder&& next);
  /// Feeds the next bytes; bytes past needed() are ignored.
  void feed(ByteSpan bytes);
  /// The parts, once needed() bytes were fed: at least one (of 0 blocks for
  /// a basis smaller than one block). A slice's parts start at its first
  /// block.
  std::vector<SignaturePart> parts() const;
  std::uint32_t block_size() const { return block_size_; }

 private:
  std::uint64_t basis_size_;
  std::uint32_t block_size_;
  std::uint32_t first_block_ = 0;
  std::uint64_t needed_;
  std::uint64_t fed_ = 0;
  Bytes pending_;  // a block cut by the split of feed()
  std::vector<BlockSum> blocks_;
};

}  // namespace ft::delta
