#include "common/delta/delta_matcher.hpp"

#include <algorithm>

#include "common/crypto/checksum.hpp"
#include "common/crypto/rolling_checksum.hpp"

namespace ft::delta {
namespace {

// Spreads the weak sum over the filter's bits: its low half is a plain sum
// of bytes, which clusters.
std::uint32_t filter_slot(std::uint32_t weak, unsigned bits) {
  return static_cast<std::uint32_t>((weak * 0x9E3779B1u) >> (32 - bits));
}

}  // namespace

BlockIndex::BlockIndex(const Signature& signature)
    : block_size_(signature.block_size()),
      blocks_(signature.blocks()),
      filter_((std::size_t{1} << kFilterBits) / 64) {
  entries_.reserve(blocks_.size());
  for (std::uint32_t i = 0; i < blocks_.size(); ++i) {
    entries_.push_back(Entry{blocks_[i].weak, i});
    const std::uint32_t slot = filter_slot(blocks_[i].weak, kFilterBits);
    filter_[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
  // By weak sum, then block index: equal sums stay in file order.
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.weak != b.weak ? a.weak < b.weak : a.index < b.index;
  });
}

std::optional<std::uint32_t> BlockIndex::find(std::uint32_t weak, ByteSpan block,
                                              std::uint32_t preferred, bool* hashed) const {
  const std::uint32_t slot = filter_slot(weak, kFilterBits);
  if ((filter_[slot / 64] & (std::uint64_t{1} << (slot % 64))) == 0) return std::nullopt;
  auto range = std::equal_range(entries_.begin(), entries_.end(), Entry{weak, 0},
                                [](const Entry& a, const Entry& b) { return a.weak < b.weak; });
  if (range.first == range.second) return std::nullopt;
  if (hashed) *hashed = true;
  const std::uint64_t strong = hash64(block);
  if (preferred < blocks_.size() && blocks_[preferred].weak == weak &&
      blocks_[preferred].strong == strong) {
    return preferred;
  }
  // A signature from a hostile peer may give every block the same weak sum
  // (and different strong ones): the candidates tried per offset are
  // capped, so that such a signature costs what an honest one does.
  const auto candidates = std::min<std::ptrdiff_t>(range.second - range.first, kMaxCandidates);
  for (auto it = range.first; it != range.first + candidates; ++it) {
    if (blocks_[it->index].strong == strong) return it->index;
  }
  return std::nullopt;
}

DeltaMatcher::DeltaMatcher(const BlockIndex& index, std::uint64_t file_size,
                           std::uint32_t max_literal)
    : index_(index), file_size_(file_size), max_literal_(max_literal) {}

std::size_t DeltaMatcher::min_window() const {
  return 2 * std::size_t{index_.block_size()} + max_literal_;
}

void DeltaMatcher::emit(std::vector<DeltaOp>& ops, DeltaOp op) {
  if (op.length == 0) return;
  if (!ops.empty() && ops.back().kind == op.kind &&
      ops.back().offset + ops.back().length == op.offset) {
    DeltaOp& last = ops.back();
    if (op.kind == DeltaOp::Kind::kCopy && last.basis_offset + last.length == op.basis_offset) {
      last.length += op.length;
      return;
    }
  }
  ops.push_back(op);
}

std::size_t DeltaMatcher::scan(ByteSpan window, std::uint64_t offset, std::vector<DeltaOp>& ops) {
  const std::size_t n = window.size();
  const bool at_end = offset + n >= file_size_;
  const std::size_t block = index_.block_size();
  std::size_t pos = 0;
  std::size_t literal = 0;  // start of the bytes not yet emitted
  auto flush_literal = [&](std::size_t end) {
    while (literal < end) {
      const std::size_t length = std::min<std::size_t>(max_literal_, end - literal);
      emit(ops, DeltaOp{DeltaOp::Kind::kLiteral, offset + literal, 0, length});
      literal += length;
    }
  };
  if (!index_.empty() && n >= block) {
    RollingChecksum sum;
    sum.reset(window.first(block));
    std::size_t roll_until = 0;  // sparse mode: every offset tried up to here
    while (true) {
      // Past its allowance of false hits, an offset is not looked up.
      bool hashed = false;
      const bool may_probe = false_hits_ <= kFalseHitSlack + scanned_ / block;
      const auto found =
          may_probe ? index_.find(sum.value(), window.subspan(pos, block), next_block_, &hashed)
                    : std::nullopt;
      if (!found && hashed) ++false_hits_;
      if (found) {
        flush_literal(pos);
        emit(ops,
             DeltaOp{DeltaOp::Kind::kCopy, offset + pos, std::uint64_t{*found} * block, block});
        next_block_ = *found + 1;
        unmatched_ = 0;
        scanned_ += block;
        pos += block;
        literal = pos;
        // A run of blocks in the basis's order (a file changed in place,
        // or shifted) goes on block by block on the XXH3-64 alone; the
        // weak sum is computed only where the run ends.
        while (pos + block <= n && index_.is_block(next_block_, window.subspan(pos, block))) {
          emit(ops, DeltaOp{DeltaOp::Kind::kCopy, offset + pos, std::uint64_t{next_block_} * block,
                            block});
          ++next_block_;
          scanned_ += block;
          pos += block;
          literal = pos;
        }
        if (pos + block > n) break;
        sum.reset(window.subspan(pos, block));
        continue;
      }
      // Literals go out a chunk at a time, however long the changed region.
      while (pos - literal >= max_literal_) flush_literal(literal + max_literal_);
      // Far from any match, trying every offset costs a table probe per
      // byte for nothing (a rewritten file): only block-aligned offsets are
      // tried then, and every kSparseRollEvery-th block every offset, which
      // still finds content moved by an insertion within that many blocks.
      const bool sparse = unmatched_ >= kRollEverywhere && pos >= roll_until;
      if (sparse && ++strides_ % kSparseRollEvery != 0) {
        if (pos + 2 * block > n) break;
        pos += block;
        unmatched_ += block;
        scanned_ += block;
        sum.reset(window.subspan(pos, block));
        continue;
      }
      if (sparse) roll_until = pos + block;
      if (pos + block >= n) break;
      sum.roll(window[pos], window[pos + block]);
      ++pos;
      ++unmatched_;
      ++scanned_;
    }
  }
  if (at_end || index_.empty()) {
    flush_literal(n);
    return n;
  }
  // The bytes from `pos` on are scanned again with the next window, which
  // holds the block that starts there whole.
  flush_literal(std::max(pos, literal));
  return literal;
}

}  // namespace ft::delta
