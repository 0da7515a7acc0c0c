// A delta upload's server side (docs/protocol.md, section 5.12): the
// signature of the file the upload replaces, sent before PUT_READY (with
// DELTA_EARLY after it, while the data already flows), and COPY frames,
// whose ranges are copied from that file into the new one on the thread
// pool. The new file is then verified by its whole-file hash and
// committed like any other upload.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/os/copy_range.hpp"
#include "common/os/exact_io.hpp"
#include "server/requests/upload.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// The basis is read in pieces of this size to sign it, and copied in
// pieces of kCopyPiece (each then read back, kReadBack at a time, for the
// file's hash while it is still in the page cache).
constexpr std::size_t kSignRead = 1024 * 1024;
constexpr std::uint64_t kCopyPiece = 8 * 1024 * 1024;
constexpr std::size_t kReadBack = 256 * 1024;

}  // namespace

std::unique_ptr<BasisSigning> open_basis(int dir, const std::string& name, std::uint64_t min_size) {
  if (dir < 0) return nullptr;
  // Not through a link (the final name is replaced, never followed), and
  // without blocking on a FIFO someone left there.
  Fd basis(::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!basis || ::fstat(basis.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) < min_size) {
    return nullptr;
  }
  auto signing = std::make_unique<BasisSigning>();
  const auto size = static_cast<std::uint64_t>(st.st_size);
  signing->basis = std::move(basis);
  signing->size = size;
  const std::uint32_t block_size = delta::block_size_for(size);
  const std::uint32_t blocks = delta::block_count_for(size, block_size);
  const std::uint32_t half = size >= kSignSplitAt ? blocks / 2 : blocks;
  signing->slices.push_back({delta::SignatureBuilder(size, 0, half), 0});
  if (half < blocks) {
    signing->slices.push_back(
        {delta::SignatureBuilder(size, half, blocks), std::uint64_t{half} * block_size});
  }
  return signing;
}

void sign_slice(BasisSigning& signing, std::size_t index) {
  BasisSigning::Slice& slice = signing.slices[index];
  try {
    Bytes buffer(kSignRead);
    for (std::uint64_t at = 0; at < slice.builder.needed();) {
      if (signing.abandoned.load(std::memory_order_relaxed)) return;
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kSignRead, slice.builder.needed() - at));
      // A basis that shrinks or fails meanwhile is simply not used.
      if (read_exact_at(signing.basis.get(), buffer.data(), n, slice.from + at) != 0) return;
      slice.builder.feed(ByteSpan(buffer).first(n));
      at += n;
    }
    slice.signed_whole = true;
  } catch (...) {
    // No buffer: no signature, and the upload goes plain.
  }
}

std::vector<delta::SignaturePart> join_slices(BasisSigning& signing) {
  if (signing.abandoned.load() || signing.slices.empty()) return {};
  for (const BasisSigning::Slice& slice : signing.slices) {
    if (!slice.signed_whole) return {};
  }
  delta::SignatureBuilder& first = signing.slices.front().builder;
  for (std::size_t i = 1; i < signing.slices.size(); ++i) {
    if (!first.join(std::move(signing.slices[i].builder))) return {};
  }
  return first.parts();
}

int copy_from_basis(UploadDisk& disk, const UploadChunk& chunk) {
  Bytes buffer;
  std::uint64_t from = chunk.basis_offset;
  std::uint64_t to = chunk.offset;
  std::uint64_t left = chunk.copy_length;
  while (left > 0) {
    const std::uint64_t piece = std::min(left, kCopyPiece);
    if (int err = copy_range(disk.basis.get(), from, disk.file.get(), to, piece)) return err;
    // The hash is of the bytes as the new file holds them: what END's hash
    // is checked against is what gets committed.
    buffer.resize(kReadBack);
    for (std::uint64_t at = 0; at < piece;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kReadBack, piece - at));
      if (int err = read_exact_at(disk.file.get(), buffer.data(), n, to + at)) return err;
      disk.hash.update(ByteSpan(buffer).first(n));
      at += n;
    }
    if (disk.space) disk.space->wrote_to(to + piece);
    from += piece;
    to += piece;
    left -= piece;
  }
  return 0;
}

void Upload::start_signing(const Hash128& prefix_hash) {
  signed_ = true;
  signing_ = Signing::kWaiting;
  // Signing reads the whole basis (gigabytes for a big file): it takes one
  // of the server's hashing slots, as a resume's prefix hash does
  // (docs/server.md, "Fairness"). Without DELTA_EARLY the client waits,
  // idle, meanwhile: the idle timeout does not run.
  waiting_for_slot_ = !early_;
  context_->start_hashing(
      [self = shared_from_this(), prefix_hash] { self->signing_slot_granted(prefix_hash); });
}

void Upload::signing_slot_granted(const Hash128& prefix_hash) {
  waiting_for_slot_ = false;
  // An upload that ended meanwhile was cleaned up by its ending; one whose
  // END came first (DELTA_EARLY) was sent a signature of no block then.
  if (state_ == State::kFinished || ending_ != Ending::kNone || signing_ != Signing::kWaiting) {
    return context_->hashing_done();
  }
  signing_ = Signing::kRunning;
  auto opened = std::make_shared<std::shared_ptr<BasisSigning>>();
  // The directory stays open while the signing runs: the upload's ending
  // and its commit wait for it (busy()).
  queue_job(
      context_->loop(),
      [opened, dir = disk_->dir.get(), name = components_.back()] {
        try {
          *opened = open_basis(dir, name, kMinDeltaBasis);
        } catch (...) {
          // No memory for it: no signature.
        }
      },
      [self = shared_from_this(), opened, prefix_hash] {
        auto signing = std::move(*opened);
        if (!signing) signing = std::make_shared<BasisSigning>();  // nothing to sign
        self->sign_slices(std::move(signing), prefix_hash);
      });
}

void Upload::sign_slices(std::shared_ptr<BasisSigning> signing, const Hash128& prefix_hash) {
  signing_state_ = signing;
  // Ended, or (DELTA_EARLY) its END came while the basis was opened.
  if (ending_ != Ending::kNone || end_received_) signing->abandoned = true;
  // Two slices at once only with a second hashing slot free now: the
  // server-wide count of pool threads hashing stays at its cap
  // (docs/server.md, "Fairness"). Otherwise one job signs both in turn.
  const std::size_t slices = signing->slices.size();
  extra_hashing_slot_ = slices == 2 && !signing->abandoned && context_->try_extra_hashing();
  const std::size_t jobs = extra_hashing_slot_ ? 2 : 1;
  auto left = std::make_shared<std::size_t>(jobs);
  for (std::size_t job = 0; job < jobs; ++job) {
    queue_job(
        context_->loop(),
        [signing, job, jobs, slices] {
          for (std::size_t slice = job; slice < slices; slice += jobs) sign_slice(*signing, slice);
        },
        [self = shared_from_this(), signing, left, prefix_hash] {
          if (--*left == 0) self->signing_done(*signing, prefix_hash);
        });
  }
}

void Upload::signing_done(BasisSigning& signing, const Hash128& prefix_hash) {
  signing_ = Signing::kDone;
  signing_state_.reset();
  context_->hashing_done();
  if (extra_hashing_slot_) {
    extra_hashing_slot_ = false;
    context_->extra_hashing_done();
  }
  std::vector<delta::SignaturePart> parts;
  try {
    parts = join_slices(signing);
  } catch (...) {
    parts.clear();  // no memory for the parts: no signature
  }
  // Kept open for the COPY frames (and closed with the upload's files).
  if (signing.basis) signed_basis_ = std::move(signing.basis);
  if (ending_ != Ending::kNone) {
    // The upload ended while its basis was signed; its ending waited.
    if (job_running_) return;  // the write job's completion carries on
    if (ending_ == Ending::kKeepPartial) return pump();
    return cleanup(false);
  }
  if (!early_) {
    if (!parts.empty()) send_signature(parts);
    adopt_basis();
    return opened(0, 0, prefix_hash);
  }
  send_signature(parts);
  pump();  // its commit may have waited for the signature
}

void Upload::send_signature(const std::vector<delta::SignaturePart>& parts) {
  // With DELTA_EARLY the client learns this way that nothing matches:
  // one part of no block, as a delta download's client says it
  // (docs/protocol.md, sections 5.12 and 5.16).
  const std::vector<delta::SignaturePart> none =
      parts.empty() ? delta::SignatureBuilder(0).parts() : std::vector<delta::SignaturePart>{};
  for (const delta::SignaturePart& part : parts.empty() ? none : parts) {
    Bytes out;
    encode_signature(out, id_, part);
    context_->send_frame(std::move(out));
  }
  if (!parts.empty()) basis_size_ = parts.front().basis_size;
}

void Upload::abandon_signing() {
  if (signing_ == Signing::kRunning && signing_state_) {
    signing_state_->abandoned = true;  // its completion sends what is due
  } else if (signing_ == Signing::kWaiting) {
    // The slot, when it comes, is given back at once. With DELTA_EARLY an
    // upload whose END came is owed its signature: one of no block.
    signing_ = Signing::kDone;
    if (early_ && ending_ == Ending::kNone && state_ != State::kFinished) send_signature({});
  }
}

void Upload::adopt_basis() {
  if (signed_basis_ && disk_ && !job_running_) disk_->basis = std::move(signed_basis_);
}

bool Upload::on_copy(Frame& frame) {
  // The same order of checks as DATA's (docs/protocol.md, section 7.2).
  if (end_received_) return violate("after its END");
  auto copy = decode_copy(frame.payload);
  if (!copy) return violate("malformed");
  if (basis_size_ == 0) return violate("without a signature sent for it");
  if (rewind_to_) {
    if (copy->offset != *rewind_to_) return true;
    rewind_to_.reset();
  }
  first_data_ = false;  // a delta upload was offered offset 0: nothing to restart
  if (copy->offset != received_) {
    return violate(std::string(copy->offset > received_ ? "gap" : "overlap") + ": offset " +
                   std::to_string(copy->offset) + ", expected " + std::to_string(received_));
  }
  if (copy->length > put_.size - received_) {
    return violate("past the declared size: " + std::to_string(copy->length) + " bytes at offset " +
                   std::to_string(copy->offset) + ", size " + std::to_string(put_.size));
  }
  if (copy->basis_offset > basis_size_ || copy->length > basis_size_ - copy->basis_offset) {
    return violate("beyond the basis: " + std::to_string(copy->length) + " bytes from " +
                   std::to_string(copy->basis_offset) + ", basis size " +
                   std::to_string(basis_size_));
  }
  received_ += copy->length;
  copied_ += copy->length;
  Chunk chunk{std::move(frame.payload), copy->offset, false, copy->basis_offset, copy->length};
  context_->add_disk_backlog(chunk.backlog_charge());
  queue_.push_back(std::move(chunk));
  pump();
  return true;
}

}  // namespace ft::server
