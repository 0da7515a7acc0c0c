#pragma once
// Receiving one file (PUT): the data goes to a hidden temporary file beside
// the destination; chunks are verified and written in order by jobs on the
// thread pool; after END the whole-file hash and size are checked, and the
// file is fsynced and renamed into place before OK is sent.
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include "checksum.hpp"
#include "messages.hpp"
#include "request.hpp"
#include "root_fs.hpp"

namespace ft::server {

class Session;

class Upload : public Request, public std::enable_shared_from_this<Upload> {
 public:
  static std::shared_ptr<Upload> start(std::shared_ptr<Session> session, std::uint32_t id,
                                       PutMsg put);
  Upload(std::shared_ptr<Session> session, std::uint32_t id, PutMsg put);
  bool on_frame(Frame& frame) override;
  void abort(ErrorCode code, bool notify) override;

 private:
  enum class State { kOpening, kReceiving, kCommitting, kFinished };
  struct Chunk {
    Bytes payload;  // the DATA payload: 16-byte prefix, then the bytes
    std::uint64_t offset;
    std::uint64_t hash;
  };
  /// What the worker thread owns while a job runs.
  struct DiskState {
    Fd dir;
    Fd file;
    std::string temp_name;
    StreamHash128 hash;
  };

  void open();
  bool on_data(Frame& frame);
  bool on_end(Frame& frame);
  void pump();
  void commit();
  void fail(ErrorCode code, const std::string& message);
  void remove_temp();
  void drop_queue();
  void finish(const std::string& result);

  std::shared_ptr<Session> session_;
  std::uint32_t id_;
  PutMsg put_;
  std::vector<std::string> components_;
  State state_ = State::kOpening;
  std::shared_ptr<DiskState> disk_;  // touched only by one job at a time
  std::deque<Chunk> queue_;
  bool job_running_ = false;
  bool aborted_ = false;
  bool end_received_ = false;
  EndMsg end_;
  std::optional<ErrorMsg> pending_error_;  // sent once the temp file is gone
  std::uint64_t received_ = 0;             // next expected offset
  std::chrono::steady_clock::time_point started_;
};

}  // namespace ft::server
