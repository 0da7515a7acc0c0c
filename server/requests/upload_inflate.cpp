// An upload's compressed DATA (COMPRESS, docs/protocol.md section 5.15):
// decompressed and hashed by a job on the thread pool, so that the loop
// never spends the millisecond a 1 MiB chunk takes (it would delay every
// other connection's requests by as much, per chunk). One job per upload
// at a time; the frames that come meanwhile wait and are then taken in
// order. What waits is counted in the connection's disk backlog, which
// stops reading the socket above its mark: the memory bound of
// docs/server.md ("Memory") holds as for plain chunks.
#include "common/wire/chunk_compression.hpp"
#include "server/requests/upload.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

/// One chunk's job: the compressed payload in, the plain one and its hash
/// out (or why it is not a chunk).
struct InflateJob {
  Bytes compressed;  // the DATA payload: prefix, then the zstd frame
  std::size_t length = 0;
  Bytes plain;  // the plain DATA payload: prefix, then the chunk
  std::uint64_t hash = 0;
  std::string why;  // non-empty: a protocol violation
  /// What the job holds in the disk backlog while it runs: both buffers.
  std::size_t charge() const { return compressed.size() + limits::kDataPrefixSize + length; }
};

void run_inflate(InflateJob& job) {
  // One context per pool thread, made on its first compressed chunk and
  // kept (docs/server.md "Memory" counts it once per pool thread).
  thread_local ChunkDecompressor decompressor;
  job.why = inflate_data_payload(decompressor, job.compressed, job.length, job.plain);
  if (job.why.empty()) job.hash = hash64(ByteSpan(job.plain).subspan(limits::kDataPrefixSize));
}

}  // namespace

void Upload::inflate(Frame& frame, std::size_t length, bool restart) {
  auto job = std::make_shared<InflateJob>();
  job->compressed = std::move(frame.payload);
  job->length = length;
  // A buffer of the chunk's size that an earlier chunk gave back: a fresh
  // 1 MiB one would be zeroed and faulted in page by page, then unmapped
  // (a quarter of ftserve's time on a compressed upload, perf).
  job->plain = context_->take_recycled(limits::kDataPrefixSize + length);
  const std::size_t charge = job->charge();
  context_->add_disk_backlog(charge);
  inflating_ = true;
  queue_job(
      context_->loop(), [job] { run_inflate(*job); },
      [self = shared_from_this(), job, charge, restart] {
        self->inflating_ = false;
        self->context_->recycle(std::move(job->compressed));
        if (self->state_ != State::kFinished) {
          if (!job->why.empty()) {
            self->fail_protocol_later(FrameType::kData, job->why);
          } else {
            self->take_chunk(std::move(job->plain), job->hash, job->length, restart);
            self->replay_held();
          }
        }
        // Last: giving the backlog back may let the session decode more
        // frames of this upload at once.
        self->context_->remove_disk_backlog(charge);
      });
}

void Upload::hold(Frame& frame) {
  held_bytes_ += frame.payload.size();
  context_->add_disk_backlog(frame.payload.size());
  held_.push_back(std::move(frame));
}

void Upload::replay_held() {
  auto keep = shared_from_this();
  while (!held_.empty() && !inflating_ && state_ != State::kFinished) {
    Frame frame = std::move(held_.front());
    held_.pop_front();
    const std::size_t bytes = frame.payload.size();
    held_bytes_ -= bytes;
    const bool taken = on_frame(frame);
    context_->remove_disk_backlog(bytes);
    if (!taken) return fail_protocol_later(frame.header.type, violation_);
  }
  if (state_ == State::kFinished) drop_held();
}

void Upload::drop_held() {
  held_.clear();
  context_->remove_disk_backlog(std::exchange(held_bytes_, 0));
}

void Upload::fail_protocol_later(FrameType type, const std::string& reason) {
  drop_held();
  // The same words the session gives a frame its handler refused.
  context_->fail_protocol(frame_type_name(std::uint8_t(type)) + " for request " +
                          std::to_string(id_) + ", " + reason);
}

}  // namespace ft::server
