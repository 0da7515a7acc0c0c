// An upload, second half: DATA and END as they arrive, the disk queue,
// the commit, and every way an upload ends (upload.cpp opens it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/chunk_compression.hpp"
#include "server/requests/upload.hpp"
#include "server/storage/job_batcher.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

bool Upload::on_frame(Frame& frame) {
  // A server receives SIGNATURE only for a delta download (section 5.16).
  if (frame.header.type == FrameType::kSignature) return violate("which is not a delta download");
  if (state_ == State::kFinished) return true;  // late frame
  if (inflating_) {
    hold(frame);
    return true;
  }
  // An eager client sends DATA and END without waiting: they are queued
  // until the file is open, or dropped if the PUT is refused. Any other
  // client sends them only after PUT_READY, refused PUT or not
  // (docs/protocol.md, section 5.1), so the verdict never depends on timing.
  const bool waiting = state_ == State::kOpening || state_ == State::kRefusing;
  if (waiting && !eager_) return violate("which has had no PUT_READY");
  if (state_ == State::kRefusing) return true;
  if (!waiting && state_ != State::kReceiving) return violate("after its END");
  switch (frame.header.type) {
    case FrameType::kData:
      return on_data(frame);
    case FrameType::kCopy:
      return on_copy(frame);
    case FrameType::kHole:
      return on_hole(frame);
    default:
      return on_end(frame);
  }
}

Upload::Order Upload::check_order(std::uint64_t offset, bool& restart) {
  if (rewind_to_) {
    // Frames the client sent before it saw our rewind are dropped.
    if (offset != *rewind_to_) return Order::kDrop;
    rewind_to_.reset();
  }
  if (first_data_) {
    first_data_ = false;
    if (offset == 0 && offered_ > 0) {
      restart = true;  // the client's source differs from our partial data
      received_ = 0;
    }
  }
  if (offset != received_) {
    violate(std::string(offset > received_ ? "gap" : "overlap") + ": offset " +
            std::to_string(offset) + ", expected " + std::to_string(received_));
    return Order::kViolation;
  }
  return Order::kTake;
}

bool Upload::on_hole(Frame& frame) {
  // A HOLE is DATA of zeros that is not sent (SPARSE, docs/protocol.md
  // section 5.9): the same order rules, no chunk-size limit, no hash to
  // check, and nothing written but a hole.
  if (end_received_) return violate("after its END");
  auto hole = decode_hole(frame.payload);
  if (!hole) return violate("malformed HOLE");
  bool restart = false;
  if (const Order order = check_order(hole->offset, restart); order != Order::kTake) {
    return order == Order::kDrop;
  }
  if (hole->length > put_.size - received_) {
    return violate("hole past the declared size: " + std::to_string(hole->length) +
                   " bytes at offset " + std::to_string(hole->offset) + ", size " +
                   std::to_string(put_.size));
  }
  received_ += hole->length;
  context_->add_disk_backlog(frame.payload.size());
  queue_.push_back(Chunk{.payload = std::move(frame.payload),
                         .offset = hole->offset,
                         .restart = restart,
                         .hole = hole->length});
  pump();
  return true;
}

bool Upload::violate(std::string reason) {
  violation_ = std::move(reason);
  return false;
}

bool Upload::on_data(Frame& frame) {
  // The order of the checks is docs/protocol.md's, sections 7.2 and 5.15.
  if (end_received_) return violate("after its END");
  auto data = decode_data(frame.payload, frame.header.flags);
  if (!data) return violate("malformed: no bytes after offset and hash");
  if (data->compressed && !context_->compress()) return violate("compressed without COMPRESS");
  bool restart = false;
  if (const Order order = check_order(data->offset, restart); order != Order::kTake) {
    return order == Order::kDrop;
  }
  // A compressed chunk is checked by the size its zstd frame declares,
  // before a byte is decompressed.
  std::uint64_t length = data->bytes.size();
  if (data->compressed) {
    auto declared = ChunkDecompressor::declared_size(data->bytes);
    if (!declared || *declared == 0) return violate("compressed chunk does not declare its size");
    length = *declared;
  }
  if (length > put_.chunk_size) {
    return violate("longer than the chunk size: " + std::to_string(length) + " bytes, chunk size " +
                   std::to_string(put_.chunk_size));
  }
  if (stream_) {
    if (!stream_fits(length)) return true;
  } else if (length > put_.size - received_) {
    return violate("past the declared size: " + std::to_string(length) + " bytes at offset " +
                   std::to_string(data->offset) + ", size " + std::to_string(put_.size));
  }
  if (data->compressed) {
    inflate(frame, static_cast<std::size_t>(length), restart);
    return true;
  }
  take_chunk(std::move(frame.payload), hash64(data->bytes), static_cast<std::size_t>(length),
             restart);
  return true;
}

void Upload::take_chunk(Bytes payload, std::uint64_t computed, std::size_t length, bool restart) {
  auto data = decode_data(payload);
  if (computed != data->chunk_hash) {
    // A stream is not rewound: its client keeps no data it has sent.
    if (context_->resume() && !eager_ && !stream_ && rewinds_ < limits::kMaxRewinds) {
      rewind(data->offset);
    } else {
      fail(ErrorCode::CHECKSUM_MISMATCH,
           "chunk at offset " + std::to_string(data->offset) + " failed its XXH3-64 check");
    }
    context_->recycle(std::move(payload));
    return;
  }
  const std::uint64_t offset = data->offset;
  received_ += length;
  bytes_this_connection_ += length;
  context_->add_disk_backlog(payload.size());
  queue_.push_back(Chunk{std::move(payload), offset, restart});
  pump();
}

bool Upload::on_end(Frame& frame) {
  if (end_received_) return violate("after its END");
  auto end = decode_end(frame.payload);
  if (!end) return violate("malformed");
  if (rewind_to_) return true;  // sent before the client saw our rewind
  first_data_ = false;
  end_received_ = true;
  end_ = *end;
  if (stream_ && end_.total_size == received_) {
    if (!claim_stream_size(end_.total_size)) return true;
    put_.size = end_.total_size;  // from here on, as if declared at PUT
  }
  if (end_.total_size != put_.size || received_ != put_.size) {
    fail(ErrorCode::SIZE_MISMATCH, "received up to byte " + std::to_string(received_) +
                                       ", END says " + std::to_string(end_.total_size) +
                                       ", PUT declared " + std::to_string(put_.size));
    return true;
  }
  // Every byte is here: no COPY can come, the signature is of no use.
  abandon_signing();
  if (eager_ && state_ == State::kOpening) {
    commit_eager();
    return true;
  }
  pump();
  return true;
}

bool Upload::stream_fits(std::size_t length) {
  const ServerOptions& options = context_->services().options();
  const std::uint64_t after = received_ + length;
  if (options.max_file_size != 0 && after > options.max_file_size) {
    fail(ErrorCode::FILE_TOO_LARGE, "streamed file passed the server's limit of " +
                                        std::to_string(options.max_file_size) + " bytes");
    return false;
  }
  const std::uint64_t quota = context_->access().quota_bytes;
  if (quota != 0 && after > quota) {
    fail(ErrorCode::QUOTA_EXCEEDED, "quota exceeded: this identity may hold " +
                                        std::to_string(quota) +
                                        " bytes; the streamed file passed it");
    return false;
  }
  return true;
}

bool Upload::claim_stream_size(std::uint64_t size) {
  if (!quota_) return true;  // the identity has no quota
  // On the loop, between two calls nothing else moves the books: giving
  // back the claim of 0 and asking for the real size is one step.
  QuotaClaim claim = std::move(*quota_);
  quota_.reset();
  ServerServices& services = context_->services();
  services.settle_quota(*context_, claim, QuotaOutcome::kDropped);
  claim.size = size;
  if (auto why = services.admit_quota(*context_, claim)) {
    fail(ErrorCode::QUOTA_EXCEEDED, *why);
    return false;
  }
  quota_ = std::move(claim);
  return true;
}

void Upload::commit_eager() {
  state_ = State::kCommitting;
  auto disk = std::make_shared<DiskState>();
  disk_ = disk;
  auto chunks = std::make_shared<std::deque<Chunk>>(std::move(queue_));
  queue_.clear();
  auto item = commit_item(*disk);
  item->root = context_->root_fd();
  item->prepare = [disk, chunks, plan = plan()](CommitItem& c, BatchDirs& dirs) {
    return prepare_eager(plan, *disk, *chunks, c, dirs);
  };
  item->after = [disk](CommitItem& c) {
    // The directory belongs to the batch: a failed upload's temporary file
    // is removed now, while it is open.
    if (!c.temp_name.empty() && c.dir >= 0) ::unlinkat(c.dir, c.temp_name.c_str(), 0);
    c.temp_name.clear();
    disk->file.reset();
  };
  job_running_ = true;
  context_->services().batcher().commit(item, [self = shared_from_this(), disk, chunks, item] {
    self->job_running_ = false;
    std::size_t bytes = 0;
    for (Chunk& chunk : *chunks) {
      bytes += chunk.backlog_charge();
      self->context_->recycle(std::move(chunk.payload));
    }
    disk->temp_name = item->temp_name;  // cleared if it was renamed into place
    self->state_ = State::kReceiving;   // lets fail() run its course
    if (disk->refusal) {
      self->fail(disk->refusal->code, disk->refusal->message);
    } else if (!item->hash_ok) {
      self->fail(ErrorCode::CHECKSUM_MISMATCH,
                 "whole-file XXH3-128 does not match the data received");
    } else if (item->err != 0) {
      self->fail_commit(item->err);
    } else {
      if (self->quota_) self->quota_->replaced = item->replaced;
      Bytes out;
      encode_ok(out, self->id_);
      self->context_->send_frame(std::move(out));
      self->finish("ok");
      self->disk_.reset();
    }
    self->context_->remove_disk_backlog(bytes);
  });
}

void Upload::rewind(std::uint64_t offset) {
  ++rewinds_;
  rewind_to_ = offset;
  received_ = offset;
  // The prefix hash must cover exactly the bytes before `offset`: the reply
  // waits until the chunks queued before the bad one are written.
  rewind_reply_pending_ = true;
  pump();
}

void Upload::pump() {
  // After a lost connection, a resumable upload still writes the verified
  // chunks it holds: they are progress the next attempt need not resend.
  const bool draining = ending_ == Ending::kKeepPartial;
  if (job_running_ || (state_ != State::kReceiving && !draining)) return;
  adopt_basis();
  // A commit, or a kept partial file's ending, waits for the basis's
  // signing (DELTA_EARLY), which reads through the upload's directory.
  const bool signing = signing_ == Signing::kRunning;
  if (queue_.empty()) {
    if (draining) {
      if (!signing) cleanup(true);
    } else if (rewind_reply_pending_) {
      rewind_reply_pending_ = false;
      send_put_ready(*rewind_to_, disk_->hash.digest());
    } else if (end_received_ && !rewind_to_ && !signing) {
      commit();
    }
    return;
  }
  // Take every queued chunk into one job: fewer wake-ups, same order.
  auto batch = std::make_shared<std::deque<Chunk>>(std::move(queue_));
  queue_.clear();
  auto disk = disk_;
  auto err = std::make_shared<int>(0);
  // A COPY's bytes are written by the job too: a large one is not for the
  // shared batch.
  std::size_t batch_bytes = 0;
  for (const Chunk& chunk : *batch) batch_bytes += chunk.payload.size() + chunk.copy_length;
  job_running_ = true;
  submit_disk_job(
      batch_bytes, [batch, disk, err] { *err = write_chunks(*disk, *batch); },
      [self = shared_from_this(), batch, err] {
        self->job_running_ = false;
        std::size_t bytes = 0;
        for (Chunk& chunk : *batch) {
          bytes += chunk.backlog_charge();
          self->context_->recycle(std::move(chunk.payload));
        }
        // Settle this upload's state first: releasing the backlog may let
        // the session decode more frames (END among them) right away.
        if (self->ending_ != Ending::kNone) {
          if (self->ending_ == Ending::kKeepPartial && *err == 0) {
            self->pump();
          } else if (!self->busy()) {
            self->cleanup(false);  // else once the basis's signing ended
          }
        } else if (*err != 0) {
          self->fail(error_from_errno(*err), std::string("write failed: ") + std::strerror(*err));
        } else {
          self->pump();
        }
        self->context_->remove_disk_backlog(bytes);
      });
}

std::shared_ptr<CommitItem> Upload::commit_item(DiskState& disk) const {
  auto item = std::make_shared<CommitItem>();
  item->final_name = components_.back();
  item->mode = put_.mode;
  item->mtime_ns = put_.mtime_ns;
  item->no_replace = !names_.overwrite;
  item->expected = end_.file_hash;
  item->hash = &disk.hash;
  return item;
}

void Upload::commit() {
  state_ = State::kCommitting;
  auto disk = disk_;
  auto item = commit_item(*disk);
  item->file = disk->file.get();
  item->dir = disk->dir.get();
  item->temp_name = disk->temp_name;
  job_running_ = true;
  context_->services().batcher().commit(item, [self = shared_from_this(), disk, item] {
    self->job_running_ = false;
    disk->temp_name = item->temp_name;  // cleared if it was renamed into place
    self->state_ = State::kReceiving;   // lets fail() run its course
    if (!item->hash_ok) {
      return self->fail(ErrorCode::CHECKSUM_MISMATCH,
                        "whole-file XXH3-128 does not match the data received");
    }
    if (item->err != 0) return self->fail_commit(item->err);
    if (self->quota_) self->quota_->replaced = item->replaced;
    Bytes out;
    encode_ok(out, self->id_);
    self->context_->send_frame(std::move(out));
    self->finish("ok");
    // Descriptors are closed off the loop too.
    self->context_->services().batcher().submit(
        [disk] {
          disk->file.reset();
          disk->basis.reset();
          disk->dir.reset();
        },
        [] {});
    self->disk_.reset();
  });
}

void Upload::fail_commit(int err) {
  // EEXIST only comes from a rename that may not replace: the name
  // appeared after the upload was checked.
  if (err == EEXIST && !names_.overwrite) {
    return fail(ErrorCode::EXISTS,
                "the file appeared meanwhile and this identity may not overwrite it");
  }
  fail(error_from_errno(err), std::string("commit failed: ") + std::strerror(err));
}

void Upload::submit_disk_job(std::size_t bytes, std::function<void()> work,
                             std::function<void()> done) {
  // Small writes ride in the shared batch; large ones get a pool thread of
  // their own so that big uploads of several clients write in parallel.
  if (bytes <= kBatchedWriteLimit) {
    context_->services().batcher().submit(std::move(work), std::move(done));
  } else {
    queue_job(context_->loop(), std::move(work), std::move(done));
  }
}

void Upload::fail(ErrorCode code, const std::string& message) {
  if (state_ == State::kFinished) return;
  auto keep = shared_from_this();  // finish_request drops the session's reference
  // Until the client has seen the ERROR it may keep sending DATA and END.
  const bool discard_rest =
      !end_received_ && (state_ == State::kReceiving ||
                         (eager_ && (state_ == State::kOpening || state_ == State::kRefusing)));
  context_->finish_request(id_, discard_rest);
  state_ = State::kFinished;
  context_->log_access("put", put_.path, bytes_this_connection_, started_, to_string(code),
                       offered_);
  drop_queue();
  ending_ = Ending::kDiscard;
  // The ERROR goes out once the temporary file is gone, so a client that
  // sees it can rely on nothing of this upload being left on the server.
  pending_error_ = ErrorMsg{static_cast<std::uint16_t>(code), put_.path, message};
  abandon_signing();
  if (!busy()) cleanup(false);
}

void Upload::drop_queue() {
  drop_held();
  std::size_t queued = 0;
  for (const Chunk& chunk : queue_) queued += chunk.backlog_charge();
  queue_.clear();
  context_->remove_disk_backlog(queued);
}

void Upload::abort(ErrorCode code, bool notify) {
  // Once the commit runs (the data is complete and verified) it cannot be
  // taken back: it finishes, and OK is sent if the client is still there.
  if (state_ == State::kFinished || state_ == State::kCommitting) return;
  auto keep = shared_from_this();
  if (notify) return fail(code, std::string(default_message(code)));
  // The connection is gone: a resumable upload keeps its partial data.
  state_ = State::kFinished;
  context_->log_access("put", put_.path, bytes_this_connection_, started_, to_string(code),
                       offered_);
  // Past the identity's cap of kept partial files, this one goes.
  const bool keeps = resumable_ && (claim_.empty() || context_->services().keep_partial(claim_));
  ending_ = keeps ? Ending::kKeepPartial : Ending::kDiscard;
  drop_held();  // not verified: nothing of it is kept
  if (ending_ == Ending::kDiscard) drop_queue();
  abandon_signing();
  if (busy()) return;  // its completion carries on
  if (ending_ == Ending::kKeepPartial) {
    pump();
  } else {
    cleanup(false);
  }
}

void Upload::finish(const std::string& result) {
  auto keep = shared_from_this();
  state_ = State::kFinished;
  release_slot();
  context_->finish_request(id_, false);
  context_->log_access("put", put_.path, bytes_this_connection_, started_, result, offered_);
  settle_quota(QuotaOutcome::kCommitted);
  if (!claim_.empty()) {
    context_->services().partial_gone(claim_);  // renamed into place
    context_->services().release_partial(claim_);
  }
  claim_.clear();
}

void Upload::cleanup(bool keep_partial) {
  // The slot and the quota are free before the ERROR goes out: a client
  // that saw it may start another upload at once.
  release_slot();
  // A resume that never opened its partial file (refused, or cut while
  // waiting) leaves it as it was: its share of the quota stays counted.
  const bool opened_partial = disk_ && disk_->partial_file;
  const bool removes_file = !keep_partial && disk_ && !disk_->temp_name.empty();
  if (keep_partial && opened_partial) {
    settle_quota(QuotaOutcome::kKeptPartial);
  } else {
    settle_quota(opened_partial || removes_file ? QuotaOutcome::kDropped
                                                : QuotaOutcome::kUntouched);
  }
  adopt_basis();  // closed with the upload's files
  auto disk = std::move(disk_);
  auto error = std::move(pending_error_);
  pending_error_.reset();
  std::string claim = std::move(claim_);
  claim_.clear();
  // Only a partial file this upload opened is removed; one it never got to
  // open (refused first) is still there and still counted.
  const bool removes_partial = removes_file;
  context_->services().batcher().submit(
      [disk, keep_partial] { discard_upload(disk.get(), keep_partial); },
      [context = context_, id = id_, error, claim, removes_partial] {
        // Released only now, so a new upload of the same source cannot open
        // the partial file while this one still has it.
        if (!claim.empty()) {
          if (removes_partial) context->services().partial_gone(claim);
          context->services().release_partial(claim);
        }
        if (error) {
          context->send_error(id, static_cast<ErrorCode>(error->code), error->path, error->message);
        }
      });
}

}  // namespace ft::server
