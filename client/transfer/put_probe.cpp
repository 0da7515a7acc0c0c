// The probe of an upload that met BUSY (docs/client.md, "Retries"): when its
// next PUT finds no partial data to resume, the upload that held it has
// ended, and if it was our own earlier connection, killed while the server
// committed, the file is already in place. A GET at offset = size answers
// the remote file's size and mtime (GET_READY) and its XXH3-128 (END)
// without sending a byte of it; when all three match the source, the PUT
// is cancelled and the file counts as skipped ("committed").
#include "client/net/hash_probe_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/put_pipeline.hpp"

namespace ft::client {

void PutPipeline::start_probe(Session& session, UploadItem& item) {
  item.probe_id = next_id_++;
  probes_.emplace(item.probe_id, Probe{&item, HashProbeReply(item.remote)});
  item.state = UploadState::kProbing;
  Bytes frame;
  encode_get(frame, item.probe_id, GetMsg{item.remote, item.source->size()});
  session.send(std::move(frame), item.probe_id);
}

void PutPipeline::on_probe_frame(Session& session, std::uint32_t id, Frame& frame) {
  auto found = probes_.find(id);
  Probe& probe = found->second;
  const HashProbeReply::Step step = probe.reply.read(frame, [&](const GetReadyMsg& ready) {
    // A forgotten item's answer is swallowed whatever it says.
    return probe.item == nullptr || (ready.size == probe.item->source->size() &&
                                     ready.mtime_ns == probe.item->source->mtime_ns());
  });
  if (step == HashProbeReply::Step::kViolation) {
    return session.protocol_error(probe.reply.violation());
  }
  if (step == HashProbeReply::Step::kCancel) {
    // Another file: stop the GET (what follows is swallowed until its last
    // frame) and send ours.
    UploadItem& item = *probe.item;
    probe.item = nullptr;
    Bytes cancel;
    encode_cancel(cancel, id);
    session.send(std::move(cancel), id);
    return probe_answered(session, item, std::nullopt);
  }
  if (!probe.reply.finished()) return;
  UploadItem* item = probe.item;
  const std::optional<Hash128> hash =
      step == HashProbeReply::Step::kHash ? std::optional(probe.reply.hash()) : std::nullopt;
  probes_.erase(found);
  // Missing, another size, no read right: the upload goes ahead.
  if (item != nullptr) probe_answered(session, *item, hash);
}

// `remote_hash`: the committed file's XXH3-128 when its size and mtime are
// the source's; nullopt when it is not our file.
void PutPipeline::probe_answered(Session& session, UploadItem& item,
                                 std::optional<Hash128> remote_hash) {
  item.probe_id = 0;
  // One probe per BUSY, once answered: a connection lost before the answer
  // leaves the question for the next one.
  item.busy_before = false;
  if (item.state != UploadState::kProbing) return;  // cancelled meanwhile
  item.hash.reset();
  if (remote_hash) {
    if (!hash_prefix(session, item, item.source->size())) return;
    std::string why;
    if (item.hash.digest() == *remote_hash &&
        item.source->check_unchanged(why) == SourceFile::Check::kUnchanged) {
      report_.skipped(item.local, item.source->size(), "committed", false);
      // Settled as a success; the server's ERROR for the CANCEL ends it.
      item.failure.reset();
      item.state = UploadState::kCancelling;
      session.connection().drop_unsent(item.id);
      Bytes frame;
      encode_cancel(frame, item.id);
      session.send(std::move(frame), item.id);
      return;
    }
    item.hash.reset();
  }
  item.next_offset = 0;
  item.state = UploadState::kStreaming;
  streaming_.push_back(&item);
}

}  // namespace ft::client
