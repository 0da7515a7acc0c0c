// ftsend's delta uploads (docs/protocol.md, section 5.12): the PUT asks for
// the signature of the server's older copy; with a whole one at PUT_READY,
// the source is matched against it a window at a time, and what the server
// already holds goes as COPY frames, the rest as DATA. The END hash still
// covers every byte of the source.
#include <algorithm>
#include <cstring>

#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/put_pipeline.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// The source is read and matched this much at a time (plus the matcher's
// overlap): large enough that the matcher's overlap costs little, small
// enough that a step keeps the send queue moving.
constexpr std::size_t kDeltaWindow = 4 * 1024 * 1024;

}  // namespace

bool PutPipeline::wants_delta(const UploadItem& item) const {
  switch (settings_.delta) {
    case DeltaMode::kNever:
      return false;
    case DeltaMode::kAlways:
      return true;
    case DeltaMode::kAuto:
      break;
  }
  return item.source->size() >= settings_.delta_min_size;
}

void PutPipeline::on_signature(Session& session, UploadItem& item, const Frame& frame) {
  if (item.state == UploadState::kCancelling) return;  // it crossed our CANCEL
  if (session.delta_early_agreed()) {
    if (!take_early_signature(session, item, frame)) return;
    if (item.signature.complete()) {
      item.signature_expected = false;
      // The matcher starts where the chunks read ahead end, with the
      // hash of every byte before: those few go as DATA.
      if (!item.signature.blocks().empty() && !drain_read_ahead(session, item)) return;
      start_matching(item);
    }
    return;
  }
  if (!item.delta_asked || item.state != UploadState::kPutSent) {
    return session.protocol_error("SIGNATURE for request " + std::to_string(item.id) +
                                  ", which did not ask for one or has had its PUT_READY");
  }
  auto part = decode_signature(frame.payload);
  if (!part) return session.protocol_error("malformed SIGNATURE");
  if (auto why = item.signature.add(*part)) {
    return session.protocol_error("SIGNATURE for request " + std::to_string(item.id) + ": " + *why);
  }
}

// With DELTA_EARLY the signature comes after PUT_READY at offset 0, whole,
// once, while DATA already flows (protocol 5.12); it may even come after
// our END, and is then of no use.
bool PutPipeline::take_early_signature(Session& session, UploadItem& item, const Frame& frame) {
  const std::string request = "SIGNATURE for request " + std::to_string(item.id);
  if (!item.delta_asked) {
    session.protocol_error(request + ", which did not ask for one or has had its PUT_READY");
    return false;
  }
  if (item.state == UploadState::kPutSent) {
    session.protocol_error(request + " before its PUT_READY (DELTA_EARLY)");
    return false;
  }
  if (!item.signature_expected) {
    session.protocol_error(request +
                           ", not expected (PUT_READY offered none, or the whole one came)");
    return false;
  }
  auto part = decode_signature(frame.payload);
  if (!part) {
    session.protocol_error("malformed SIGNATURE");
    return false;
  }
  if (auto why = item.signature.add(*part)) {
    session.protocol_error(request + ": " + *why);
    return false;
  }
  return true;
}

bool PutPipeline::start_delta(Session& session, UploadItem& item, std::uint64_t start) {
  // With DELTA_EARLY the signature is still to come (start_streaming).
  if (session.delta_early_agreed()) return true;
  if (!item.signature.started()) return true;  // no older copy: a plain upload
  if (!item.signature.complete()) {
    session.protocol_error("PUT_READY for request " + std::to_string(item.id) +
                           " before its whole SIGNATURE");
    return false;
  }
  if (start != 0) return true;
  start_matching(item);
  return true;
}

void PutPipeline::start_matching(UploadItem& item) {
  if (item.signature.blocks().empty()) {
    item.signature = {};
    return;  // no older copy (or nothing worth it): a plain upload
  }
  // Past the end there is nothing to match (the END may be queued, or
  // sent: the server then ignores the signature's use).
  if (item.next_offset >= item.source->size() && item.state != UploadState::kProbing) {
    item.signature = {};
    return;
  }
  item.block_index = std::make_unique<delta::BlockIndex>(item.signature);
  item.matcher = std::make_unique<delta::DeltaMatcher>(*item.block_index, item.source->size(),
                                                       settings_.chunk_size);
  item.signature = {};  // the index holds what is needed
  report_.verbose_line(
      "delta: " + printable(item.remote) + " against the server's copy of " +
      std::to_string(item.block_index->block_size()) + "-byte blocks" +
      (item.next_offset > 0 ? " from offset " + std::to_string(item.next_offset) : std::string()));
}

// One window of the source: matched, its bytes added to the file's hash,
// and its COPY and DATA frames queued (send_delta_ops).
void PutPipeline::delta_step(Session& session, UploadItem& item) {
  SourceFile& source = *item.source;
  const std::size_t want = std::max(kDeltaWindow, item.matcher->min_window());
  const auto length =
      static_cast<std::size_t>(std::min<std::uint64_t>(want, source.size() - item.next_offset));
  delta_window_.resize(length);
  if (!read_source(session, item, item.next_offset, delta_window_)) return;
  delta_ops_.clear();
  delta_ops_sent_ = 0;
  delta_ops_item_ = &item;
  delta_window_offset_ = item.next_offset;
  const std::size_t consumed = item.matcher->scan(delta_window_, item.next_offset, delta_ops_);
  item.hash.update(ByteSpan(delta_window_).first(consumed));
  item.next_offset += consumed;
  send_delta_ops(session, item);
}

// A window's DATA goes out a chunk at a time under the send budget, like a
// plain upload's: queued all at once, a window changed throughout put up
// to 4 MiB of chunks on top of a full queue (ftsend peaked at 17.4 MiB
// over a 256 MiB file onto a copy of other content, 22.6-25.1 MiB with
// --compress). COPY frames are small and not counted, but keep their
// place in file order.
void PutPipeline::send_delta_ops(Session& session, UploadItem& item) {
  const std::size_t budget = send_budget(session);
  for (; delta_ops_sent_ < delta_ops_.size(); ++delta_ops_sent_) {
    const delta::DeltaOp& op = delta_ops_[delta_ops_sent_];
    if (op.kind == delta::DeltaOp::Kind::kCopy) {
      Bytes frame;
      encode_copy(frame, item.id, CopyMsg{op.offset, op.basis_offset, op.length});
      session.send(std::move(frame), item.id);
      item.matched_bytes += op.length;
      report_.progress().add_present_bytes(op.length);
      continue;
    }
    if (unsent_chunk_bytes(session) >= budget) return;
    const auto bytes = static_cast<std::size_t>(op.length);
    Bytes chunk = session.connection().take_spare_buffer();
    chunk.resize(bytes);
    std::memcpy(chunk.data(), delta_window_.data() + (op.offset - delta_window_offset_), bytes);
    session.send_chunk(item.id, op.offset, std::move(chunk));
    report_.progress().add_moving_bytes(bytes);
  }
}

void PutPipeline::drop_delta_ops(const UploadItem& item) {
  if (delta_ops_item_ != &item) return;
  delta_ops_.clear();
  delta_ops_sent_ = 0;
  delta_ops_item_ = nullptr;
}

}  // namespace ft::client
