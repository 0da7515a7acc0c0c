#include "common/delta/block_signature.hpp"

#include <algorithm>

#include "common/crypto/checksum.hpp"
#include "common/crypto/rolling_checksum.hpp"

namespace ft::delta {

BlockSum block_sum(ByteSpan block) {
  return BlockSum{rolling_checksum(block), hash64(block)};
}

std::uint32_t block_size_for(std::uint64_t basis_size) {
  std::uint32_t size = kMinBlockSize;
  while (size < kMaxBlockSize && basis_size / size > kMaxBlocks) size *= 2;
  return size;
}

std::uint32_t block_count_for(std::uint64_t basis_size, std::uint32_t block_size) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(basis_size / block_size, kMaxBlocks));
}

std::optional<std::string> Signature::add(const SignaturePart& part) {
  if (!started_) {
    if (part.block_size != block_size_for(part.basis_size)) {
      return "block size " + std::to_string(part.block_size) +
             " is not the rule's for a basis of " + std::to_string(part.basis_size) + " bytes";
    }
    started_ = true;
    basis_size_ = part.basis_size;
    block_size_ = part.block_size;
    expected_ = block_count_for(basis_size_, block_size_);
  } else if (part.basis_size != basis_size_ || part.block_size != block_size_) {
    return std::string("basis size or block size changed between SIGNATURE frames");
  }
  if (part.first_block != blocks_.size()) {
    return "blocks from " + std::to_string(part.first_block) + ", expected " +
           std::to_string(blocks_.size());
  }
  if (part.blocks.size() > expected_ - blocks_.size()) {
    return "more blocks than the basis has (" + std::to_string(expected_) + ")";
  }
  // Reserved once, at its bound: the count comes from the checked basis size.
  if (blocks_.capacity() < expected_) blocks_.reserve(expected_);
  blocks_.insert(blocks_.end(), part.blocks.begin(), part.blocks.end());
  return std::nullopt;
}

SignatureBuilder::SignatureBuilder(std::uint64_t basis_size)
    : basis_size_(basis_size),
      block_size_(block_size_for(basis_size)),
      needed_(std::uint64_t{block_count_for(basis_size, block_size_)} * block_size_) {
  blocks_.reserve(block_count_for(basis_size, block_size_));
}

SignatureBuilder::SignatureBuilder(std::uint64_t basis_size, std::uint32_t first_block,
                                   std::uint32_t end_block)
    : basis_size_(basis_size), block_size_(block_size_for(basis_size)) {
  end_block = std::min(end_block, block_count_for(basis_size, block_size_));
  first_block_ = std::min(first_block, end_block);
  needed_ = std::uint64_t{end_block - first_block_} * block_size_;
  blocks_.reserve(end_block - first_block_);
}

bool SignatureBuilder::join(SignatureBuilder&& next) {
  if (next.basis_size_ != basis_size_ || next.first_block_ != first_block_ + blocks_.size() ||
      fed_ != needed_ || next.fed_ != next.needed_) {
    return false;
  }
  blocks_.insert(blocks_.end(), next.blocks_.begin(), next.blocks_.end());
  needed_ += next.needed_;
  fed_ += next.fed_;
  next.blocks_.clear();
  return true;
}

void SignatureBuilder::feed(ByteSpan bytes) {
  if (fed_ >= needed_) return;
  bytes =
      bytes.first(static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), needed_ - fed_)));
  fed_ += bytes.size();
  if (!pending_.empty()) {
    const std::size_t take = std::min(bytes.size(), block_size_ - pending_.size());
    pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + take);
    bytes = bytes.subspan(take);
    if (pending_.size() < block_size_) return;
    blocks_.push_back(block_sum(pending_));
    pending_.clear();
  }
  while (bytes.size() >= block_size_) {
    blocks_.push_back(block_sum(bytes.first(block_size_)));
    bytes = bytes.subspan(block_size_);
  }
  pending_.assign(bytes.begin(), bytes.end());
}

std::vector<SignaturePart> SignatureBuilder::parts() const {
  std::vector<SignaturePart> out;
  std::size_t at = 0;
  do {
    SignaturePart part;
    part.basis_size = basis_size_;
    part.block_size = block_size_;
    part.first_block = first_block_ + static_cast<std::uint32_t>(at);
    const std::size_t count = std::min<std::size_t>(kBlocksPerFrame, blocks_.size() - at);
    part.blocks.assign(blocks_.begin() + at, blocks_.begin() + at + count);
    at += count;
    out.push_back(std::move(part));
  } while (at < blocks_.size());
  return out;
}

}  // namespace ft::delta
