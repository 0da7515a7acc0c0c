#pragma once
// The sending side of a delta transfer (docs/protocol.md, section 5.12):
// finds the basis's blocks in the new file, wherever they moved, and says
// which ranges to copy from the basis and which to send as bytes. Pure:
// it is fed windows of the new file and appends operations.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "common/delta/block_signature.hpp"

namespace ft::delta {

/// Blocks of a signature by weak sum, with a bit-set prefilter so that
/// most offsets of a changed region cost one memory access.
class BlockIndex {
 public:
  /// Blocks of one weak sum compared by their strong sum at one offset (a
  /// bound on the work a signature whose blocks share a weak sum can cause;
  /// an honest file's blocks past the first 16 of one weak sum are found
  /// only by the preferred-block rule).
  static constexpr std::ptrdiff_t kMaxCandidates = 16;
  explicit BlockIndex(const Signature& signature);
  std::uint32_t block_size() const { return block_size_; }
  bool empty() const { return entries_.empty(); }
  /// The index of a block whose sums are `weak` and XXH3-64(`block`),
  /// `preferred` first (the block after the last match: runs of equal
  /// blocks stay in order); nullopt if none.
  /// `hashed` (if given) says whether the weak sum was a candidate, so the
  /// block's XXH3-64 was computed.
  std::optional<std::uint32_t> find(std::uint32_t weak, ByteSpan block, std::uint32_t preferred,
                                    bool* hashed = nullptr) const;
  /// Whether `block` is block `index` by its XXH3-64 alone (false past the
  /// last block): the block after a match is most often the next one, and
  /// this costs one hash where find() first wants the weak sum, a second
  /// pass over the block.
  bool is_block(std::uint32_t index, ByteSpan block) const {
    return index < blocks_.size() && blocks_[index].strong == hash64(block);
  }

 private:
  struct Entry {
    std::uint32_t weak;
    std::uint32_t index;
  };
  static constexpr unsigned kFilterBits = 20;
  std::uint32_t block_size_;
  std::vector<BlockSum> blocks_;
  std::vector<Entry> entries_;  // sorted by weak sum
  std::vector<std::uint64_t> filter_;
};

/// One step of a delta: bytes [offset, offset + length) of the new file are
/// sent (kLiteral) or copied from the basis at basis_offset (kCopy).
struct DeltaOp {
  enum class Kind : std::uint8_t { kLiteral, kCopy };
  Kind kind = Kind::kLiteral;
  std::uint64_t offset = 0;
  std::uint64_t basis_offset = 0;
  std::uint64_t length = 0;
  friend bool operator==(const DeltaOp&, const DeltaOp&) = default;
};

class DeltaMatcher {
 public:
  /// Unmatched bytes after which only some offsets are tried (scan()).
  static constexpr std::uint64_t kRollEverywhere = 4 * 1024 * 1024;
  static constexpr std::uint64_t kSparseRollEvery = 32;
  /// `max_literal`: the longest literal op (a DATA frame's chunk size).
  DeltaMatcher(const BlockIndex& index, std::uint64_t file_size, std::uint32_t max_literal);
  /// The window a caller should offer: at least this many bytes unless it
  /// reaches the end of the file.
  std::size_t min_window() const;
  /// Scans `window`, the new file's bytes from `offset` on (it reaches the
  /// end of the file or holds min_window() bytes), appends ops covering
  /// [offset, offset + consumed) and returns consumed (> 0 for a non-empty
  /// window). The next call starts at offset + consumed. Every offset is
  /// tried while a match was found in the last kRollEverywhere bytes;
  /// further from any, block-aligned offsets and every offset of one block
  /// in kSparseRollEvery (a rewritten file costs little, content moved by
  /// an insertion is still found, a few blocks late).
  std::size_t scan(ByteSpan window, std::uint64_t offset, std::vector<DeltaOp>& ops);

 private:
  void emit(std::vector<DeltaOp>& ops, DeltaOp op);
  const BlockIndex& index_;
  std::uint64_t file_size_;
  std::uint32_t max_literal_;
  std::uint32_t next_block_ = 0;  // preferred candidate
  std::uint64_t unmatched_ = 0;   // bytes scanned since the last match
  std::uint64_t strides_ = 0;     // blocks skipped or rolled in sparse mode
  // Weak sums that matched but whose block did not: each cost a block's
  // XXH3-64. A signature built so that they match everywhere (a hostile
  // peer's) is held to one per block scanned, plus kFalseHitSlack.
  static constexpr std::uint64_t kFalseHitSlack = 64;
  std::uint64_t scanned_ = 0;
  std::uint64_t false_hits_ = 0;
};

}  // namespace ft::delta
