// A compressed download's chunks (COMPRESS, docs/protocol.md section 5.15):
// compressing a 1 MiB chunk at level 1 takes about as long as sending its
// frame over 1 GbE, so while one chunk is compressed the next is read and
// compressed too (kCompressJobs at once, each on a pool thread), and the
// frames go out in file order. The read job stays one at a time: it feeds
// the file's streaming hash, which must see the chunks in order.
#include <cstring>
#include <memory>

#include "common/wire/chunk_compression.hpp"
#include "server/requests/download.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

bool Download::compress_in_place(Bytes& buffer, int level) {
  // Each pool thread makes one compressor and one output buffer, on its
  // first compressed chunk, and keeps them: docs/server.md ("Memory")
  // counts them once per pool thread, and a download's own memory does
  // not grow.
  thread_local std::unique_ptr<ChunkCompressor> compressor;
  thread_local Bytes out;
  if (!compressor || compressor->level() != level) {
    compressor = std::make_unique<ChunkCompressor>(level);
  }
  if (!compressor->compress(buffer, out)) return false;
  std::memcpy(buffer.data(), out.data(), out.size());
  buffer.resize(out.size());
  return true;
}

void Download::compress_then_send(std::shared_ptr<CompressedChunk> chunk, int level) {
  compressing_.push_back(chunk);
  if (chunk->hole > 0) {
    chunk->done = true;  // a HOLE is sent as it is, in its turn
    return send_compressed();
  }
  queue_job(
      context_->loop(),
      [chunk, level] { chunk->compressed = compress_in_place(*chunk->buffer, level); },
      [self = shared_from_this(), chunk] {
        chunk->done = true;
        self->send_compressed();
      });
  pump();  // the next read, while this chunk is compressed
}

void Download::send_compressed() {
  while (!compressing_.empty() && compressing_.front()->done) {
    const std::shared_ptr<CompressedChunk> chunk = std::move(compressing_.front());
    compressing_.pop_front();
    context_->remove_read_ahead(chunk->read_ahead);
    if (finished_) continue;  // the chunks of a download that ended are dropped
    if (chunk->hole > 0) {
      Bytes out;
      encode_hole(out, id_, HoleMsg{chunk->offset, chunk->hole});
      context_->send_frame(std::move(out));
    } else {
      context_->send_data(id_, chunk->offset, chunk->chunk_hash, chunk->buffer,
                          chunk->buffer->size(), chunk->compressed ? kFlagCompressed : 0);
    }
  }
  pump();
}

}  // namespace ft::server
