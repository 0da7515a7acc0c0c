#include "upload.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "path_rules.hpp"
#include "session.hpp"

namespace ft::server {

std::shared_ptr<Upload> Upload::start(std::shared_ptr<Session> session, std::uint32_t id,
                                      PutMsg put) {
  auto upload = std::make_shared<Upload>(std::move(session), id, std::move(put));
  upload->open();
  return upload;
}

Upload::Upload(std::shared_ptr<Session> session, std::uint32_t id, PutMsg put)
    : session_(std::move(session)),
      id_(id),
      put_(std::move(put)),
      started_(std::chrono::steady_clock::now()) {}

void Upload::open() {
  if (auto why = path_violation(put_.path, false)) {
    // Refusals are sent from a later turn of the loop, like every reply.
    auto self = shared_from_this();
    std::string message = "path refused: " + *why;
    queue_job(
        session_->loop(), [] {}, [self, message] { self->fail(ErrorCode::BAD_PATH, message); });
    return;
  }
  if (put_.chunk_size < limits::kMinChunkSize || put_.chunk_size > limits::kMaxChunkSize ||
      put_.put_flags != 0) {
    auto self = shared_from_this();
    ErrorCode code = put_.put_flags != 0 ? ErrorCode::PROTOCOL : ErrorCode::BAD_CHUNK_SIZE;
    std::string message = put_.put_flags != 0
                              ? "PUT flags must be 0 in protocol version 1"
                              : "chunk size " + std::to_string(put_.chunk_size) + " out of range";
    queue_job(
        session_->loop(), [] {}, [self, code, message] { self->fail(code, message); });
    return;
  }
  components_ = split_path(put_.path);
  auto disk = std::make_shared<DiskState>();
  auto result = std::make_shared<int>(0);
  const int root = session_->root_fd();
  const std::vector<std::string> components = components_;
  job_running_ = true;
  queue_job(
      session_->loop(),
      [disk, result, root, components] {
        if ((*result = open_parent_creating(root, components, disk->dir)) != 0) return;
        struct stat st;
        if (::fstatat(disk->dir.get(), components.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode)) {
          *result = EISDIR;
          return;
        }
        *result = create_temp_file(disk->dir.get(), disk->temp_name, disk->file);
      },
      [self = shared_from_this(), disk, result] {
        self->job_running_ = false;
        self->disk_ = disk;
        if (self->aborted_) return self->remove_temp();
        if (*result != 0) {
          return self->fail(error_from_errno(*result), std::strerror(*result));
        }
        self->state_ = State::kReceiving;
        Bytes out;
        encode_put_ready(out, self->id_, PutReadyMsg{0, std::nullopt});
        self->session_->send_frame(std::move(out));
      });
}

bool Upload::on_frame(Frame& frame) {
  if (state_ == State::kFinished) return true;  // already refused; late frame
  if (state_ != State::kReceiving || end_received_) return false;
  return frame.header.type == FrameType::kData ? on_data(frame) : on_end(frame);
}

bool Upload::on_data(Frame& frame) {
  auto data = decode_data(frame.payload);
  if (!data || data->offset != received_ || data->bytes.size() > put_.chunk_size ||
      data->bytes.size() > put_.size - received_) {
    return false;
  }
  Chunk chunk{std::move(frame.payload), data->offset, data->chunk_hash};
  received_ += data->bytes.size();
  session_->add_disk_backlog(chunk.payload.size());
  queue_.push_back(std::move(chunk));
  pump();
  return true;
}

bool Upload::on_end(Frame& frame) {
  auto end = decode_end(frame.payload);
  if (!end) return false;
  end_received_ = true;
  end_ = *end;
  if (end_.total_size != put_.size || received_ != put_.size) {
    fail(ErrorCode::SIZE_MISMATCH, "received " + std::to_string(received_) + " bytes, END says " +
                                       std::to_string(end_.total_size) + ", PUT declared " +
                                       std::to_string(put_.size));
    return true;
  }
  pump();
  return true;
}

void Upload::pump() {
  if (job_running_ || state_ != State::kReceiving) return;
  if (queue_.empty()) {
    if (end_received_) commit();
    return;
  }
  // Take every queued chunk into one job: fewer wake-ups, same order.
  auto batch = std::make_shared<std::deque<Chunk>>(std::move(queue_));
  queue_.clear();
  auto disk = disk_;
  struct Outcome {
    int err = 0;
    bool bad_hash = false;
    std::uint64_t at = 0;
  };
  auto outcome = std::make_shared<Outcome>();
  job_running_ = true;
  queue_job(
      session_->loop(),
      [batch, disk, outcome] {
        for (Chunk& chunk : *batch) {
          ByteSpan bytes = ByteSpan(chunk.payload).subspan(limits::kDataPrefixSize);
          if (hash64(bytes) != chunk.hash) {
            outcome->bad_hash = true;
            outcome->at = chunk.offset;
            return;
          }
          std::size_t done = 0;
          while (done < bytes.size()) {
            ssize_t n = ::pwrite(disk->file.get(), bytes.data() + done, bytes.size() - done,
                                 static_cast<off_t>(chunk.offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
              outcome->err = n < 0 ? errno : EIO;
              return;
            }
            done += static_cast<std::size_t>(n);
          }
          // Only bytes that reached the file count toward the file's hash.
          disk->hash.update(bytes);
        }
      },
      [self = shared_from_this(), batch, outcome] {
        self->job_running_ = false;
        std::size_t bytes = 0;
        for (Chunk& chunk : *batch) {
          bytes += chunk.payload.size();
          self->session_->recycle(std::move(chunk.payload));
        }
        // Settle this upload's state first: releasing the backlog may let
        // the session decode more frames (END among them) right away.
        if (self->aborted_) {
          self->remove_temp();
        } else if (outcome->bad_hash) {
          self->fail(
              ErrorCode::CHECKSUM_MISMATCH,
              "chunk at offset " + std::to_string(outcome->at) + " failed its XXH3-64 check");
        } else if (outcome->err != 0) {
          self->fail(error_from_errno(outcome->err),
                     std::string("write failed: ") + std::strerror(outcome->err));
        } else {
          self->pump();
        }
        self->session_->remove_disk_backlog(bytes);
      });
}

void Upload::commit() {
  state_ = State::kCommitting;
  auto disk = disk_;
  auto result = std::make_shared<int>(0);
  auto hash_ok = std::make_shared<bool>(true);
  const EndMsg end = end_;
  const PutMsg put = put_;
  const std::string final_name = components_.back();
  job_running_ = true;
  queue_job(
      session_->loop(),
      [disk, result, hash_ok, end, put, final_name] {
        if (disk->hash.digest() != end.file_hash) {
          *hash_ok = false;
          return;
        }
        *result = commit_temp_file(disk->file.get(), disk->dir.get(), disk->temp_name, final_name,
                                   put.mode, put.mtime_ns);
        if (*result == 0) disk->temp_name.clear();  // it is the final file now
        disk->file.reset();
      },
      [self = shared_from_this(), result, hash_ok] {
        self->job_running_ = false;
        if (self->aborted_) return self->remove_temp();
        self->state_ = State::kReceiving;  // lets fail() run its course
        if (!*hash_ok) {
          return self->fail(ErrorCode::CHECKSUM_MISMATCH,
                            "whole-file XXH3-128 does not match the data received");
        }
        if (*result != 0) {
          return self->fail(error_from_errno(*result),
                            std::string("commit failed: ") + std::strerror(*result));
        }
        Bytes out;
        encode_ok(out, self->id_);
        self->session_->send_frame(std::move(out));
        self->finish("ok");
      });
}

void Upload::fail(ErrorCode code, const std::string& message) {
  if (state_ == State::kFinished) return;
  auto keep = shared_from_this();  // finish_request drops the session's reference
  // Until the client has seen the ERROR it may keep sending DATA and END.
  const bool discard_rest = state_ == State::kReceiving && !end_received_;
  session_->finish_request(id_, discard_rest);
  state_ = State::kFinished;
  session_->log_transfer("put", put_.path, received_, started_, to_string(code));
  drop_queue();
  aborted_ = true;
  // The ERROR goes out once the temporary file is gone, so a client that
  // sees it can rely on nothing of this upload being left on the server.
  pending_error_ = ErrorMsg{static_cast<std::uint16_t>(code), put_.path, message};
  if (!job_running_) remove_temp();
}

void Upload::drop_queue() {
  std::size_t queued = 0;
  for (const Chunk& chunk : queue_) queued += chunk.payload.size();
  queue_.clear();
  session_->remove_disk_backlog(queued);
}

void Upload::abort(ErrorCode code, bool notify) {
  // Once the commit runs (the data is complete and verified) it cannot be
  // taken back: it finishes, and OK is sent if the client is still there.
  if (state_ == State::kFinished || state_ == State::kCommitting) return;
  auto keep = shared_from_this();
  if (notify) return fail(code, std::string(default_message(code)));
  state_ = State::kFinished;
  session_->log_transfer("put", put_.path, received_, started_, to_string(code));
  drop_queue();
  aborted_ = true;
  if (!job_running_) remove_temp();
}

void Upload::finish(const std::string& result) {
  auto keep = shared_from_this();
  state_ = State::kFinished;
  session_->finish_request(id_, false);
  session_->log_transfer("put", put_.path, received_, started_, result);
}

void Upload::remove_temp() {
  auto disk = std::move(disk_);
  auto error = std::move(pending_error_);
  pending_error_.reset();
  queue_job(
      session_->loop(),
      [disk] {
        if (!disk) return;
        disk->file.reset();
        if (!disk->temp_name.empty() && disk->dir) {
          ::unlinkat(disk->dir.get(), disk->temp_name.c_str(), 0);
        }
      },
      [session = session_, id = id_, error] {
        if (error)
          session->send_error(id, static_cast<ErrorCode>(error->code), error->path, error->message);
      });
}

}  // namespace ft::server
