#include "client/transfer/stream_transfer.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/console.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/retry.hpp"
#include "common/crypto/checksum.hpp"
#include "common/os/exact_io.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kRequestId = 1;
// Read from the pipe only while less than this waits in the send queue:
// memory stays bounded whatever the pipe delivers.
constexpr std::size_t kMaxQueuedBytes = 2 * 1024 * 1024;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::int64_t now_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// One STREAM PUT fed from a pipe. States: waiting for the hello, PUT sent,
// sending (reading the pipe as the send queue drains), END sent, settled.
class StreamUpload : public SessionHandler {
 public:
  StreamUpload(const StreamUploadOptions& options, TransferReport& report)
      : options_(options), report_(report) {}

  void produce(Session& session) override {
    session_ = &session;
    if (!session.hello_received() || outcome_) return;
    if (state_ == State::kStart) {
      if (!session.stream_agreed()) {
        outcome_ = Error{ErrorCode::PROTOCOL, options_.remote.path,
                         "the server does not accept uploads from a pipe (its ftserve predates "
                         "STREAM); save the data to a file and send that"};
        return;
      }
      PutMsg put;
      put.path = options_.remote.path;
      put.size = 0;
      put.mode = 0644;  // like a file a shell redirection creates
      put.mtime_ns = now_ns();
      put.chunk_size = options_.chunk_size;
      put.put_flags = kPutStream;
      Bytes frame;
      encode_put(frame, kRequestId, put);
      session.send(std::move(frame), kRequestId);
      state_ = State::kPutSent;
      report_.progress().add_total(1, 0);  // its size is the pipe's to say
      return;
    }
    if (state_ == State::kSending) send_what_the_pipe_holds(session);
    report_.progress().set_unsent_bytes(session.connection().queued_chunk_bytes());
    report_.progress().tick();
  }

  void on_frame(Session& session, Frame& frame) override {
    switch (frame.header.type) {
      case FrameType::kPutReady: {
        auto ready = decode_put_ready(frame.payload, session.resume_agreed());
        if (!ready) return session.protocol_error("malformed PUT_READY");
        // A stream is never resumed nor rewound (section 5.14).
        if (state_ != State::kPutSent || ready->offset != 0) {
          return session.protocol_error("unexpected PUT_READY for a streamed upload");
        }
        state_ = State::kSending;
        started_ = Clock::now();
        return;
      }
      case FrameType::kOk:
        if (state_ != State::kEndSent) return session.protocol_error("OK before END");
        state_ = State::kSettled;
        outcome_ = std::nullopt;
        settled_ = true;
        return;
      case FrameType::kError: {
        ErrorReply reply = read_error_reply(frame, options_.remote.path, options_.remote.path);
        if (reply.violation) return session.protocol_error(*reply.violation);
        outcome_ = reply.failure;
        return;
      }
      default:
        return session.protocol_error("unexpected " +
                                      frame_type_name(std::uint8_t(frame.header.type)) +
                                      " for a streamed upload");
    }
  }

  bool finished() const override { return settled_ || outcome_.has_value(); }

  int wake_fd() const override {
    // Woken by the pipe only while its bytes can be taken: else the loop
    // would spin on a readable pipe it does not read.
    if (state_ != State::kSending || session_ == nullptr) return -1;
    if (session_->connection().queued_chunk_bytes() >= kMaxQueuedBytes) return -1;
    return options_.input_fd;
  }

  const std::optional<Error>& outcome() const { return outcome_; }
  std::uint64_t bytes() const { return sent_; }
  double seconds() const { return seconds_since(started_); }

 private:
  enum class State { kStart, kPutSent, kSending, kEndSent, kSettled };

  void send_what_the_pipe_holds(Session& session) {
    while (state_ == State::kSending &&
           session.connection().queued_chunk_bytes() < kMaxQueuedBytes) {
      if (chunk_.empty()) chunk_.resize(options_.chunk_size);
      pollfd p{options_.input_fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return;  // nothing yet: the session waits on wake_fd()
      ssize_t n = ::read(options_.input_fd, chunk_.data() + filled_, chunk_.size() - filled_);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
      if (n < 0) {
        outcome_ =
            Error{ErrorCode::LOCAL_FILE, {}, "reading standard input: " + errno_message(errno)};
        return;
      }
      filled_ += static_cast<std::size_t>(n);
      const bool at_end = n == 0;
      if (filled_ == chunk_.size() || (at_end && filled_ > 0)) send_chunk(session);
      if (at_end) {
        EndMsg end{sent_, hash_.digest()};
        Bytes frame;
        encode_end(frame, kRequestId, end);
        session.send(std::move(frame), kRequestId);
        state_ = State::kEndSent;
        report_.progress().set_phase(ProgressPhase::kCommitting);
      }
    }
  }

  void send_chunk(Session& session) {
    chunk_.resize(filled_);
    hash_.update(chunk_);
    const std::uint64_t offset = sent_;
    sent_ += chunk_.size();
    report_.progress().add_moving_bytes(chunk_.size());
    session.send_chunk(kRequestId, offset, std::move(chunk_));
    chunk_ = Bytes();
    filled_ = 0;
  }

  const StreamUploadOptions& options_;
  TransferReport& report_;
  Session* session_ = nullptr;
  State state_ = State::kStart;
  Bytes chunk_;
  std::size_t filled_ = 0;
  std::uint64_t sent_ = 0;
  StreamHash128 hash_;
  Clock::time_point started_ = Clock::now();
  std::optional<Error> outcome_;
  bool settled_ = false;
};

// One GET written to a pipe. A new connection after a lost one asks for
// the rest from the bytes already written, and the running hash goes on.
class StreamDownload : public SessionHandler, public RetryableWork {
 public:
  StreamDownload(const StreamDownloadOptions& options, TransferReport& report)
      : options_(options), report_(report) {}

  // RetryableWork
  void prepare_attempt() override { get_sent_ = false; }
  bool all_done() const override { return done_ || failure_.has_value(); }
  std::optional<Error> attempt() override {
    return connect_and_run(options_.remote.host, options_.remote.port, *this);
  }
  std::vector<std::string> deferred() const override {
    if (!busy_) return {};
    return {deferred_line(options_.remote.path, *busy_)};
  }
  void give_up(const std::optional<Error>& failure) override {
    if (all_done()) return;
    if (failure) report_.connection_failed(*failure);
    failure_ = busy_ ? busy_ : failure;
    if (!failure_) failure_ = Error{ErrorCode::CONNECTION_LOST, {}, "connection lost"};
  }

  // SessionHandler
  void produce(Session& session) override {
    if (!session.hello_received() || get_sent_ || all_done()) return;
    busy_.reset();
    Bytes frame;
    encode_get(frame, kRequestId, GetMsg{options_.remote.path, written_});
    session.send(std::move(frame), kRequestId);
    get_sent_ = true;
    ready_.reset();
  }

  void on_frame(Session& session, Frame& frame) override {
    switch (frame.header.type) {
      case FrameType::kGetReady:
        return on_ready(session, frame);
      case FrameType::kData:
        return on_data(session, frame);
      case FrameType::kEnd:
        return on_end(session, frame);
      case FrameType::kError: {
        ErrorReply reply = read_error_reply(frame, options_.remote.path, options_.remote.path);
        if (reply.violation) return session.protocol_error(*reply.violation);
        const ErrorCode code = reply.failure.code;
        if (code == ErrorCode::BUSY || code == ErrorCode::SHUTTING_DOWN) {
          // Tried again on the next connection, from where the output is.
          busy_ = reply.failure;
          return session.fail(code, reply.failure.message);
        }
        failure_ = reply.failure;
        return;
      }
      default:
        return session.protocol_error(
            "unexpected " + frame_type_name(std::uint8_t(frame.header.type)) + " for a download");
    }
  }

  bool finished() const override { return all_done(); }

  const std::optional<Error>& failure() const { return failure_; }
  std::uint64_t bytes() const { return written_; }
  double seconds() const { return seconds_since(started_); }

 private:
  void fail_with(Session& session, Error error) {
    failure_ = std::move(error);
    Bytes cancel;
    encode_cancel(cancel, kRequestId);
    session.send(std::move(cancel), kRequestId);
  }

  void on_ready(Session& session, const Frame& frame) {
    auto ready = decode_get_ready(frame.payload);
    if (!ready) return session.protocol_error("malformed GET_READY");
    if (ready_) return session.protocol_error("GET_READY twice");
    if (auto absurd = absurd_size(ready->size)) {
      return fail_with(session, Error{ErrorCode::PROTOCOL, options_.remote.path, *absurd});
    }
    if (first_ && (first_->size != ready->size || first_->mtime_ns != ready->mtime_ns)) {
      // The bytes already written belong to the old version.
      return fail_with(session, Error{ErrorCode::IO_ERROR, options_.remote.path,
                                      "the file changed on the server while it was written to "
                                      "standard output; the output is incomplete"});
    }
    if (!first_) {
      first_ = *ready;
      report_.progress().add_total(1, ready->size);
    }
    ready_ = *ready;
  }

  void on_data(Session& session, const Frame& frame) {
    auto data = decode_data(frame.payload, frame.header.flags);
    if (!data) return session.protocol_error("malformed DATA");
    const auto length = SessionCompression::chunk_length(*data, session.compress_agreed());
    if (!length) return session.protocol_error("compressed DATA that declares no size");
    if (failure_) return;  // cancelled: its DATA may still arrive
    if (!ready_) return session.protocol_error("DATA before GET_READY");
    const std::string& path = options_.remote.path;
    if (data->offset != written_) {
      return fail_with(session, Error{ErrorCode::PROTOCOL, path,
                                      "DATA at offset " + std::to_string(data->offset) +
                                          ", expected " + std::to_string(written_)});
    }
    if (*length > ready_->chunk_size) {
      return fail_with(session,
                       Error{ErrorCode::PROTOCOL, path, "DATA larger than the chunk size"});
    }
    if (*length > ready_->size - written_) {
      return fail_with(session, Error{ErrorCode::SIZE_MISMATCH, path,
                                      "more data than the declared size of " +
                                          std::to_string(ready_->size) + " bytes"});
    }
    if (data->compressed) {
      std::string why = session.compression().inflate(*data, static_cast<std::size_t>(*length));
      if (!why.empty()) return fail_with(session, Error{ErrorCode::PROTOCOL, path, why});
    }
    // Checked before a byte leaves: a damaged chunk never reaches the reader.
    if (hash64(data->bytes) != data->chunk_hash) {
      return fail_with(session, Error{ErrorCode::CHECKSUM_MISMATCH, path,
                                      "checksum mismatch in the chunk at offset " +
                                          std::to_string(data->offset)});
    }
    if (int err = write_all(options_.output_fd, data->bytes.data(), data->bytes.size())) {
      return fail_with(
          session,
          Error{ErrorCode::LOCAL_FILE, {}, "writing standard output: " + errno_message(err)});
    }
    hash_.update(data->bytes);
    written_ += data->bytes.size();
    report_.progress().add_moving_bytes(data->bytes.size());
    report_.progress().tick();
  }

  void on_end(Session& session, const Frame& frame) {
    auto end = decode_end(frame.payload);
    if (!end) return session.protocol_error("malformed END");
    if (failure_) return;
    if (!ready_) return session.protocol_error("END before GET_READY");
    if (end->total_size != ready_->size || written_ != ready_->size) {
      failure_ = Error{ErrorCode::SIZE_MISMATCH, options_.remote.path,
                       "size mismatch: " + std::to_string(written_) + " bytes written, END says " +
                           std::to_string(end->total_size) + "; the output is not the file"};
      return;
    }
    if (end->file_hash != hash_.digest()) {
      failure_ = Error{ErrorCode::CHECKSUM_MISMATCH, options_.remote.path,
                       "whole-file checksum mismatch; the output is not the file"};
      return;
    }
    done_ = true;
  }

  const StreamDownloadOptions& options_;
  TransferReport& report_;
  bool get_sent_ = false;
  std::optional<GetReadyMsg> first_;  // what the first GET_READY said
  std::optional<GetReadyMsg> ready_;  // this connection's
  std::uint64_t written_ = 0;
  StreamHash128 hash_;
  bool done_ = false;
  std::optional<Error> failure_;
  std::optional<Error> busy_;  // BUSY or SHUTTING_DOWN: worth another connection
  Clock::time_point started_ = Clock::now();
};

}  // namespace

int run_stream_upload(const StreamUploadOptions& options, TransferReport& report) {
  StreamUpload upload(options, report);
  const std::string& path = options.remote.path;
  if (auto failure = connect_and_run(options.remote.host, options.remote.port, upload)) {
    report.connection_failed(*failure);
    report.failed(path, *failure);
    return report.finish(exit_status_of({failure}));
  }
  if (upload.outcome()) {
    report.failed(path, *upload.outcome());
    return report.finish(exit_status_of({upload.outcome()}));
  }
  report.transferred(path, upload.bytes(), upload.seconds());
  return report.finish();
}

int run_stream_download(const StreamDownloadOptions& options, TransferReport& report) {
  StreamDownload download(options, report);
  run_with_retries("ftget", download, options.retries, report);
  if (download.failure()) {
    report.failed(options.remote.path, *download.failure());
    return report.finish(exit_status_of({download.failure()}));
  }
  report.transferred(options.remote.path, download.bytes(), download.seconds());
  return report.finish();
}

}  // namespace ft::client
