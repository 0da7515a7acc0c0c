// A delta upload's server side (docs/protocol.md, section 5.12): the
// signature of the file the upload replaces, sent before PUT_READY, and
// COPY frames, whose ranges are copied from that file into the new one on
// the thread pool. The new file is then verified by its whole-file hash
// and committed like any other upload.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>

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
// A basis at least this big is signed by two threads.
constexpr std::uint64_t kSignSplitAt = 16 * 1024 * 1024;
constexpr std::uint64_t kCopyPiece = 8 * 1024 * 1024;
constexpr std::size_t kReadBack = 256 * 1024;

}  // namespace

std::vector<delta::SignaturePart> sign_basis(UploadDisk& disk, const std::string& name,
                                             std::uint64_t min_size) {
  if (!disk.dir) return {};
  // Not through a link (the final name is replaced, never followed), and
  // without blocking on a FIFO someone left there.
  Fd basis(::openat(disk.dir.get(), name.c_str(),
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!basis || ::fstat(basis.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) < min_size) {
    return {};
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint32_t block_size = delta::block_size_for(size);
  const std::uint32_t blocks = delta::block_count_for(size, block_size);
  // The client waits for the whole signature before it sends anything:
  // a big basis is signed in two halves at once, the second on a thread
  // of its own (a core the waiting client leaves idle; docs/server.md,
  // "Fairness").
  const std::uint32_t half = size >= kSignSplitAt ? blocks / 2 : blocks;
  delta::SignatureBuilder first(size, 0, half);
  delta::SignatureBuilder second(size, half, blocks);
  const int fd = basis.get();
  // A basis that shrinks or fails meanwhile is simply not used.
  auto sign = [fd](delta::SignatureBuilder& builder, std::uint64_t from) {
    Bytes buffer(kSignRead);
    for (std::uint64_t at = 0; at < builder.needed();) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kSignRead, builder.needed() - at));
      if (read_exact_at(fd, buffer.data(), n, from + at) != 0) return false;
      builder.feed(ByteSpan(buffer).first(n));
      at += n;
    }
    return true;
  };
  bool second_ok = false;
  std::thread helper;
  if (half < blocks) {
    try {
      helper = std::thread([&]() noexcept {
        try {
          second_ok = sign(second, std::uint64_t{half} * block_size);
        } catch (...) {
          second_ok = false;  // no buffer: no signature, a plain upload
        }
      });
    } catch (const std::system_error&) {
      // No thread to be had: the second half is signed after the first.
    }
  }
  bool first_ok = false;
  try {
    first_ok = sign(first, 0);
  } catch (...) {
    // No buffer: the helper is still joined below (a joinable thread's
    // destructor would end the process), and the upload goes plain.
  }
  if (helper.joinable()) {
    helper.join();
  } else if (half < blocks && first_ok) {
    second_ok = sign(second, std::uint64_t{half} * block_size);
  } else {
    second_ok = true;  // nothing to sign, or the first half failed already
  }
  if (!first_ok || !second_ok || !first.join(std::move(second))) return {};
  disk.basis = std::move(basis);
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

void Upload::sign_then_ready(const Hash128& prefix_hash) {
  signed_ = true;
  // Signing reads the whole basis (gigabytes for a big file): it takes one
  // of the server's hashing slots, as a resume's prefix hash does
  // (docs/server.md, "Fairness").
  waiting_for_slot_ = true;
  context_->start_hashing([self = shared_from_this(), prefix_hash] {
    self->waiting_for_slot_ = false;
    // An upload that ended meanwhile was cleaned up by its ending.
    if (self->state_ == State::kFinished || self->ending_ != Ending::kNone) {
      return self->context_->hashing_done();
    }
    auto disk = self->disk_;
    auto parts = std::make_shared<std::vector<delta::SignaturePart>>();
    self->job_running_ = true;
    queue_job(
        self->context_->loop(),
        [disk, parts, name = self->components_.back()] {
          *parts = sign_basis(*disk, name, kMinDeltaBasis);
        },
        [self, parts, prefix_hash] {
          self->job_running_ = false;
          self->context_->hashing_done();
          if (self->ending_ != Ending::kNone)
            return self->cleanup(self->ending_ == Ending::kKeepPartial);
          if (!parts->empty()) {
            self->basis_size_ = parts->front().basis_size;
            for (const delta::SignaturePart& part : *parts) {
              Bytes out;
              encode_signature(out, self->id_, part);
              self->context_->send_frame(std::move(out));
            }
          }
          self->opened(0, 0, prefix_hash);
        });
  });
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
