// A delta download's server side (docs/protocol.md, section 5.16): the
// client's signature of its older copy arrives as SIGNATURE frames, is
// checked and counted as it comes; once it is whole (and GET_READY sent),
// jobs on the thread pool match the file against it a window at a time
// and the loop sends COPY frames for what the client holds, DATA for the
// rest, in file order. END is the plain download's, with the hash of every
// byte of the file as read.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "server/requests/download.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// What the index of `blocks` blocks holds: a copy of the sums, the sorted
// entries and the prefilter's bits (delta::BlockIndex).
std::size_t index_memory(std::size_t blocks) {
  return blocks * (sizeof(delta::BlockSum) + 2 * sizeof(std::uint32_t)) +
         (std::size_t{1} << 20) / 8;
}

// One step of a window's answer, in file order.
struct Piece {
  bool copy = false;
  std::uint64_t offset = 0;
  std::uint64_t basis_offset = 0;  // a copy's
  std::uint64_t length = 0;
  std::shared_ptr<Bytes> bytes;  // a literal's
  std::uint64_t chunk_hash = 0;
};

}  // namespace

bool Download::on_frame(Frame& frame) {
  if (frame.header.type != FrameType::kSignature) {
    violation_ = "which is not an upload";  // section 7.2's words for DATA/END
    return false;
  }
  if (signature_whole_) {
    violation_ = "after its whole signature";
    return false;
  }
  if (!delta_) {
    violation_ = "whose GET did not set DELTA";
    return false;
  }
  auto part = decode_signature(frame.payload);
  if (!part) {
    violation_ = "malformed";
    return false;
  }
  if (auto why = signature_.add(*part)) {
    violation_ = *why;
    return false;
  }
  if (finished_) return true;
  charge_signature(signature_.memory());
  signature_whole_ = signature_.complete();
  if (signature_whole_ && streaming_) begin_delta();
  return true;
}

void Download::charge_signature(std::size_t bytes) {
  // Counted as received data waiting (docs/server.md, "Memory"): a
  // connection holding signatures past the disk backlog's mark is not read
  // until they are used up.
  if (bytes > signature_charge_) context_->add_disk_backlog(bytes - signature_charge_);
  if (bytes < signature_charge_) context_->remove_disk_backlog(signature_charge_ - bytes);
  signature_charge_ = bytes;
}

void Download::begin_delta() {
  if (signature_.blocks().empty()) {
    // Nothing to match against: the plain download (section 5.2).
    delta_ = false;
    charge_signature(0);
    return pump();
  }
  charge_signature(index_memory(signature_.blocks().size()));
  delta_state_ = std::make_shared<DeltaState>();
  delta_state_->signature = std::move(signature_);
  delta_active_ = true;
  delta_pump();
}

void Download::delta_pump() {
  if (!delta_active_ || !streaming_ || job_running_ || finished_) return;
  if (next_offset_ == size_) return send_end();
  const std::size_t block = delta_state_->index ? delta_state_->index->block_size()
                                                : delta_state_->signature.block_size();
  const std::size_t want = std::max(kDeltaWindow, 2 * block + kChunkSize);
  const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(size_ - next_offset_, want));
  // The window and the literals cut from it are in memory at once.
  if (!context_->may_buffer(2 * length)) return context_->notify_when_writable(weak_from_this());
  auto disk = disk_;
  auto state = delta_state_;
  auto pieces = std::make_shared<std::vector<Piece>>();
  auto consumed = std::make_shared<std::size_t>(0);
  auto result = std::make_shared<int>(0);
  const std::uint64_t offset = next_offset_;
  const std::uint64_t size = size_;
  job_running_ = true;
  context_->add_read_ahead(2 * length);
  queue_job(
      context_->loop(),
      [disk, state, pieces, consumed, result, offset, size, length] {
        if (!state->index) {
          state->index = std::make_unique<delta::BlockIndex>(state->signature);
          state->signature = delta::Signature();
          state->matcher = std::make_unique<delta::DeltaMatcher>(*state->index, size, kChunkSize);
        }
        Bytes window(length);
        if ((*result = read_exact_at(disk->file.get(), window.data(), length, offset))) return;
        std::vector<delta::DeltaOp> ops;
        *consumed = state->matcher->scan(window, offset, ops);
        disk->hash.update(ByteSpan(window).first(*consumed));
        for (const delta::DeltaOp& op : ops) {
          Piece piece{op.kind == delta::DeltaOp::Kind::kCopy,
                      op.offset,
                      op.basis_offset,
                      op.length,
                      nullptr,
                      0};
          if (!piece.copy) {
            const auto from = static_cast<std::size_t>(op.offset - offset);
            piece.bytes = std::make_shared<Bytes>(
                window.begin() + static_cast<std::ptrdiff_t>(from),
                window.begin() + static_cast<std::ptrdiff_t>(from + op.length));
            piece.chunk_hash = hash64(*piece.bytes);
          }
          pieces->push_back(std::move(piece));
        }
      },
      [self = shared_from_this(), pieces, consumed, result, length] {
        self->job_running_ = false;
        self->context_->remove_read_ahead(2 * length);
        if (self->finished_) return self->close_file();
        if (*result != 0) {
          return self->fail(ErrorCode::IO_ERROR, *result == ENODATA
                                                     ? "file changed while being read"
                                                     : std::string(std::strerror(*result)));
        }
        for (const Piece& piece : *pieces) {
          if (piece.copy) {
            Bytes out;
            encode_copy(out, self->id_, CopyMsg{piece.offset, piece.basis_offset, piece.length});
            self->context_->send_frame(std::move(out));
            continue;
          }
          self->context_->send_data(self->id_, piece.offset, piece.chunk_hash, piece.bytes,
                                    piece.bytes->size());
          self->literal_bytes_ += piece.bytes->size();
        }
        self->next_offset_ += *consumed;
        self->delta_pump();
      });
}

}  // namespace ft::server
