#include "server/requests/download.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "common/os/sparse.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/archive_messages.hpp"
#include "server/storage/job_batcher.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

// read_exact_at() answers ENODATA when the file ends early: it shrank
// under us.
// A link leading out of the root fails with EXDEV or ELOOP: the message
// says what the code (PATH_ESCAPES_ROOT) means, not the system's words.
std::string describe(int err) {
  if (err == EXDEV || err == ELOOP)
    return std::string(default_message(ErrorCode::PATH_ESCAPES_ROOT));
  return err == ENODATA ? "file changed while being read" : std::strerror(err);
}

}  // namespace

std::shared_ptr<Download> Download::start(RequestContext& context, std::uint32_t id, GetMsg get,
                                          bool delta) {
  auto download = std::make_shared<Download>(context, id, std::move(get), delta);
  download->open();
  return download;
}

Download::Download(RequestContext& context, std::uint32_t id, GetMsg get, bool delta)
    : context_(context),
      id_(id),
      get_(std::move(get)),
      started_(std::chrono::steady_clock::now()),
      delta_(delta) {}

void Download::open() {
  auto disk = std::make_shared<DiskState>();
  auto result = std::make_shared<int>(0);
  auto why = std::make_shared<std::optional<std::string>>(
      path_violation(get_.path, false, context_->name_rules()));
  const bool forbidden = !context_->access().allows(kRightRead);
  const int root = context_->root_fd();
  const std::string path = get_.path;
  const std::uint64_t offset = get_.offset;
  const int level = compress_level();
  // A small file is read whole, checked and closed by this one job (three
  // pool jobs and loop wake-ups per file were most of a restore of small
  // files): its room in the read-ahead is taken before the job knows its
  // size, so the send queue's bound holds.
  auto whole = std::make_shared<WholeFile>();
  // A delta download waits for its signature before any DATA.
  const bool may_read_whole = !delta_ && context_->may_buffer(kWholeFileMax);
  if (may_read_whole) {
    context_->add_read_ahead(kWholeFileMax);
    // Allocated here, on the loop thread, which also frees it: a buffer
    // allocated on a pool thread and freed on the loop takes that thread's
    // malloc arena lock, and with thousands of small files the loop waited
    // on it.
    whole->data = std::make_shared<Bytes>();
    whole->data->reserve(kWholeFileMax);
  }
  job_running_ = true;
  queue_open_job(
      offset == 0,
      [disk, result, why, whole, root, path, offset, forbidden, may_read_whole, level] {
        if (forbidden || *why) return;
        // O_NONBLOCK: opening a FIFO must not park a pool thread waiting for a
        // writer; anything but a regular file is refused right after.
        if ((*result = open_beneath(root, path, O_RDONLY | O_NONBLOCK, disk->file)) != 0) return;
        if (::fstat(disk->file.get(), &disk->initial) != 0) {
          *result = errno;
          return;
        }
        if (S_ISDIR(disk->initial.st_mode)) {
          *result = EISDIR;
          return;
        }
        if (!S_ISREG(disk->initial.st_mode)) {
          *result = EINVAL;
          return;
        }
        const auto size = static_cast<std::uint64_t>(disk->initial.st_size);
        if (offset > size) {
          *result = ERANGE;
          return;
        }
        // END carries the hash of the whole file, so a transfer that starts
        // later in the file hashes the part it skips.
        Bytes buffer(std::min<std::uint64_t>(offset, kChunkSize));
        for (std::uint64_t at = 0; at < offset;) {
          std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(offset - at, kChunkSize));
          if ((*result = read_exact_at(disk->file.get(), buffer.data(), n, at)) != 0) return;
          disk->hash.update(ByteSpan(buffer.data(), n));
          at += n;
        }
        if (may_read_whole && size - offset <= kWholeFileMax)
          read_whole(*disk, *whole, offset, level);
      },
      [self = shared_from_this(), disk, result, why, whole, forbidden, may_read_whole] {
        self->job_running_ = false;
        if (may_read_whole) self->context_->remove_read_ahead(kWholeFileMax);
        self->disk_ = disk;
        if (self->finished_) return self->close_file();
        if (*why) return self->fail(ErrorCode::BAD_PATH, "path refused: " + **why);
        if (forbidden) return self->fail(ErrorCode::FORBIDDEN, "this identity may not read");
        if (*result == ERANGE) {
          return self->fail(ErrorCode::BAD_OFFSET, "offset " + std::to_string(self->get_.offset) +
                                                       " is beyond the end of the file");
        }
        if (*result == EINVAL) {
          return self->fail(ErrorCode::NOT_FOUND, "not a regular file");
        }
        if (*result != 0) return self->fail(error_from_errno(*result), describe(*result));
        self->size_ = static_cast<std::uint64_t>(disk->initial.st_size);
        self->next_offset_ = self->get_.offset;
        self->streaming_ = true;
        Bytes out;
        encode_get_ready(
            out, self->id_,
            GetReadyMsg{self->size_, mtime_ns_of(disk->initial),
                        static_cast<std::uint32_t>(disk->initial.st_mode & 07777), kChunkSize});
        self->context_->send_frame(std::move(out));
        if (whole->read) return self->send_whole(*whole);
        if (self->delta_) {
          // The signature may be whole already (a client may send it right
          // after its GET); otherwise its last part starts the data.
          if (self->signature_whole_) self->begin_delta();
          return;
        }
        if (self->size_ - self->next_offset_ <= kWholeFileMax) return self->read_whole_later();
        self->pump();
      });
}

void Download::queue_open_job(bool batched, std::function<void()> work,
                              std::function<void()> done) {
  // A GET from the start is a few system calls (and a small file's whole
  // read): batched with the server's other small jobs, so that a restore of
  // many small files costs a pool hand-off per batch rather than per file.
  // A resume hashes the part it skips first, which may take long: a job of
  // its own.
  if (batched) return context_->services().batcher().submit(std::move(work), std::move(done));
  queue_job(context_->loop(), std::move(work), std::move(done));
}

int Download::compress_level() const {
  return context_->compress() ? context_->services().options().compress_level : kNoCompression;
}

void Download::read_whole(DiskState& disk, WholeFile& whole, std::uint64_t offset, int level) {
  const auto length = static_cast<std::size_t>(disk.initial.st_size) - offset;
  if (!whole.data) whole.data = std::make_shared<Bytes>();
  whole.data->resize(length);
  if (length > 0) {
    if ((whole.read_error = read_exact_at(disk.file.get(), whole.data->data(), length, offset))) {
      whole.read = true;
      return;
    }
    whole.chunk_hash = hash64(*whole.data);
    disk.hash.update(*whole.data);
    if (level != kNoCompression) whole.compressed = compress_in_place(*whole.data, level);
  }
  // The same check as send_end()'s, in the same job.
  struct stat now;
  whole.changed = ::fstat(disk.file.get(), &now) != 0 || !unchanged_since(disk.initial, now);
  whole.digest = disk.hash.digest();
  disk.file.reset();
  whole.read = true;
}

void Download::read_whole_later() {
  // The open job had no room to read this small file (many GETs arrived
  // at once): one more batched job reads, checks and closes it, with room
  // for its real size, instead of a chunk job and an END job of their own.
  const auto length = static_cast<std::size_t>(size_ - next_offset_);
  if (!context_->may_buffer(length)) return pump();  // waits for room as a chunk would
  context_->add_read_ahead(length);
  job_running_ = true;
  auto disk = disk_;
  auto whole = std::make_shared<WholeFile>();
  whole->data = std::make_shared<Bytes>();  // on the loop thread: see open()
  whole->data->reserve(length);
  const std::uint64_t offset = next_offset_;
  const int level = compress_level();
  context_->services().batcher().submit(
      [disk, whole, offset, level] { read_whole(*disk, *whole, offset, level); },
      [self = shared_from_this(), whole, length] {
        self->job_running_ = false;
        self->context_->remove_read_ahead(length);
        if (self->finished_) return self->close_file();
        self->send_whole(*whole);
      });
}

void Download::send_whole(const WholeFile& whole) {
  // What pump() and send_end() would have sent, in one turn of the loop.
  if (whole.read_error != 0) return fail(ErrorCode::IO_ERROR, describe(whole.read_error));
  const std::size_t length = static_cast<std::size_t>(size_ - next_offset_);
  if (length > 0) {
    context_->send_data(id_, next_offset_, whole.chunk_hash, whole.data, whole.data->size(),
                        whole.compressed ? kFlagCompressed : 0);
    next_offset_ += length;
  }
  if (whole.changed) return fail(ErrorCode::IO_ERROR, "file changed while being read");
  Bytes out;
  encode_end(out, id_, EndMsg{size_, whole.digest});
  context_->send_frame(std::move(out));
  finish("ok");
}

void Download::pump() {
  if (delta_) return delta_pump();
  if (!streaming_ || job_running_ || finished_) return;
  const int level = compress_level();
  // A compressed download reads on while its chunks are compressed, up to
  // kCompressJobs ahead of the wire (send_compressed() calls again).
  if (compressing_.size() >= kCompressJobs) return;
  // on_writable resumes, once the queue (and the reads about to join it)
  // drained: memory stays bounded however many downloads are in flight.
  // The server's memory budget too: while it is spent, a waiting download
  // keeps no buffer.
  const std::size_t length =
      static_cast<std::size_t>(std::min<std::uint64_t>(size_ - next_offset_, kChunkSize));
  if (!context_->may_buffer(length)) {
    release_buffers(false);
    return context_->notify_when_writable(weak_from_this());
  }
  if (next_offset_ == size_) return compressing_.empty() ? send_end() : void();
  const std::uint64_t offset = next_offset_;
  auto buffer = chunk_buffer(length);
  auto chunk_hash = std::make_shared<std::uint64_t>(0);
  auto result = std::make_shared<int>(0);
  auto hole = std::make_shared<std::uint64_t>(0);
  auto disk = disk_;
  const bool sparse = context_->sparse();
  const std::uint64_t size = size_;
  // The chunk's length as read (a hole may shorten it).
  auto plain = std::make_shared<std::size_t>(0);
  job_running_ = true;
  context_->add_read_ahead(length);
  queue_job(
      context_->loop(),
      [disk, buffer, chunk_hash, result, hole, offset, sparse, size, plain] {
        if (sparse) {
          // SPARSE: a hole is announced, not read (docs/protocol.md 5.9),
          // and data is read only up to the next hole.
          if (!disk->data_ranges) {
            const auto blocks = static_cast<std::uint64_t>(disk->initial.st_blocks);
            disk->data_ranges.emplace(blocks * 512 < size);
          }
          std::uint64_t start = offset, end = size;
          if ((*result = disk->data_ranges->next(disk->file.get(), offset, size, start, end))) {
            return;
          }
          if (start > offset) {
            *hole = start - offset;
            hash_zeros(disk->hash, *hole);
            return;
          }
          if (end - offset < buffer->size()) buffer->resize(static_cast<std::size_t>(end - offset));
        }
        if ((*result = read_exact_at(disk->file.get(), buffer->data(), buffer->size(), offset))) {
          return;
        }
        *chunk_hash = hash64(*buffer);
        disk->hash.update(*buffer);
        *plain = buffer->size();
      },
      [self = shared_from_this(), buffer, chunk_hash, result, hole, offset, length, plain, level] {
        self->job_running_ = false;
        if (level != kNoCompression && !self->finished_ && *result == 0) {
          self->next_offset_ += *hole > 0 ? *hole : *plain;
          return self->compress_then_send(
              std::make_shared<CompressedChunk>(CompressedChunk{.offset = offset,
                                                                .hole = *hole,
                                                                .buffer = buffer,
                                                                .chunk_hash = *chunk_hash,
                                                                .read_ahead = length}),
              level);
        }
        self->context_->remove_read_ahead(length);
        if (self->finished_) return self->close_file();
        if (*result != 0) return self->fail(ErrorCode::IO_ERROR, describe(*result));
        if (*hole > 0) {
          Bytes out;
          encode_hole(out, self->id_, HoleMsg{offset, *hole});
          self->context_->send_frame(std::move(out));
          self->next_offset_ += *hole;
        } else {
          self->context_->send_data(self->id_, offset, *chunk_hash, buffer, buffer->size());
          self->next_offset_ += *plain;
        }
        self->pump();
      });
}

std::shared_ptr<Bytes> Download::chunk_buffer(std::size_t length) {
  // The send queue holds at most kSendHighWater plus a chunk: that many
  // buffers cycle, and a few more are never kept.
  constexpr std::size_t kMaxBuffers = RequestContext::kSendHighWater / kChunkSize + 4;
  for (auto& buffer : buffers_) {
    if (buffer.use_count() == 1) {
      buffer->resize(length);
      return buffer;
    }
  }
  auto buffer = std::make_shared<Bytes>(length);
  if (buffers_.size() < kMaxBuffers) {
    buffers_.push_back(buffer);
    buffers_bytes_ += buffer->capacity();
    context_->add_reply_memory(buffer->capacity());
  }
  return buffer;
}

void Download::release_buffers(bool all) {
  std::size_t freed = 0;
  std::erase_if(buffers_, [&](const std::shared_ptr<Bytes>& buffer) {
    if (!all && buffer.use_count() > 1) return false;  // a write still sends it
    freed += buffer->capacity();
    return true;
  });
  buffers_bytes_ -= freed;
  if (freed > 0) context_->remove_reply_memory(freed);
}

void Download::send_end() {
  auto disk = disk_;
  auto changed = std::make_shared<bool>(false);
  auto digest = std::make_shared<Hash128>();
  job_running_ = true;
  queue_job(
      context_->loop(),
      [disk, changed, digest] {
        struct stat now;
        *changed = ::fstat(disk->file.get(), &now) != 0 || !unchanged_since(disk->initial, now);
        *digest = disk->hash.digest();
        disk->file.reset();
      },
      [self = shared_from_this(), changed, digest] {
        self->job_running_ = false;
        if (self->finished_) return;
        if (*changed) return self->fail(ErrorCode::IO_ERROR, "file changed while being read");
        Bytes out;
        encode_end(out, self->id_, EndMsg{self->size_, *digest});
        self->context_->send_frame(std::move(out));
        self->finish("ok");
      });
}

void Download::fail(ErrorCode code, const std::string& message) {
  if (finished_) return;
  context_->send_error(id_, code, get_.path, message);
  finish(to_string(code));
}

void Download::abort(ErrorCode code, bool notify) {
  if (finished_) return;
  if (notify) return fail(code, std::string(default_message(code)));
  finished_ = true;
  release_buffers(true);
  charge_signature(0);
  context_->log_access("get", get_.path, delta_ ? literal_bytes_ : next_offset_ - get_.offset,
                       started_, to_string(code));
  if (!job_running_) close_file();
}

void Download::finish(const std::string& result) {
  finished_ = true;
  release_buffers(true);
  charge_signature(0);
  streaming_ = false;
  // The rest of a signature still on its way is swallowed (section 5.16).
  context_->finish_request(id_, delta_ && !signature_whole_);
  // A delta download's bytes are those it sent as DATA (docs/server.md).
  context_->log_access("get", get_.path, delta_ ? literal_bytes_ : next_offset_ - get_.offset,
                       started_, result);
  if (!job_running_) close_file();
}

void Download::close_file() {
  auto disk = std::move(disk_);
  if (!disk || !disk->file) return;
  queue_job(
      context_->loop(), [disk] { disk->file.reset(); }, [] {});
}

}  // namespace ft::server
