#pragma once
// Pipelined uploads on one Session: PUT, PUT_READY, DATA and END, OK or
// ERROR, with resumable uploads and rewinds when RESUME is agreed
// (protocol 5.1 and 5.4). The caller owns the UploadItems (their address
// must not change while they are in flight), decides which file goes next
// and learns through on_settled() when one is done or deferred.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "client/local/read_ahead.hpp"
#include "client/local/source_file.hpp"
#include "client/net/hash_probe_reply.hpp"
#include "client/transfer/delta_mode.hpp"
#include "common/base/limits.hpp"
#include "common/crypto/checksum.hpp"
#include "common/delta/delta_matcher.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

class Session;
class TransferReport;

enum class UploadState {
  kWaiting,     // PUT not sent yet (on this connection)
  kPutSent,     // waiting for PUT_READY
  kProbing,     // PUT_READY at 0 after a BUSY: asking whether the file is committed
  kStreaming,   // PUT_READY received: DATA then END to send
  kEndSent,     // waiting for OK (or a rewind)
  kCancelling,  // settled locally (failed, or found committed), CANCEL sent,
                // waiting for the server's ERROR
  kRetryLater,  // the server said BUSY or SHUTTING_DOWN: try on the next connection
  kDone,
};

/// One file to upload. `local` names it in messages and events; `name` is
/// what is opened, relative to `dir_fd` (or as a path without one; `local`
/// when empty).
struct UploadItem {
  std::string local;
  std::string remote;
  int dir_fd = -1;  // borrowed; -1: open `local` itself
  std::string name;
  std::optional<SourceFile> source;
  UploadState state = UploadState::kWaiting;
  std::uint32_t id = 0;
  std::uint64_t next_offset = 0;  // the next byte to queue
  StreamHash128 hash;             // of bytes [0, next_offset)
  int rewinds = 0;
  std::chrono::steady_clock::time_point started;
  std::optional<Error> retry_reason;  // with kRetryLater
  // The server answered BUSY on an earlier connection: another upload of this
  // very source (often our own, from a connection that died during its
  // commit) held its partial data, and may have committed the file since.
  bool busy_before = false;
  std::uint32_t probe_id = 0;  // with kProbing: the GET asking about the file
  std::optional<Error> failure;
  void* owner = nullptr;  // for the caller (the tree walk's directory)
  // A delta upload (protocol 5.12): the PUT asked for the signature of the
  // server's older copy; what arrived of it, and once PUT_READY came with a
  // whole one, the matcher that turns the file into COPY and DATA frames.
  bool delta_asked = false;
  // With DELTA_EARLY: PUT_READY offered offset 0, so one whole signature
  // follows it while DATA already flows (protocol 5.12).
  bool signature_expected = false;
  delta::Signature signature;
  std::unique_ptr<delta::BlockIndex> block_index;
  std::unique_ptr<delta::DeltaMatcher> matcher;
  std::uint64_t matched_bytes = 0;  // sent as COPY on this connection

  /// Forgets this connection's progress before another attempt. The source
  /// stays open: its first fstat stays the reference for the "source
  /// changed" check, and the PUT names the same size and mtime, so the
  /// server finds its partial data again.
  void reset_for_retry();
};

struct UploadSettings {
  std::uint32_t chunk_size = limits::kDefaultChunkSize;
  DeltaMode delta = DeltaMode::kAuto;
  /// kAuto asks for files of at least this size: below it a full send over
  /// 1 GbE takes under 0.1 s, less than signing the older copy may.
  std::uint64_t delta_min_size = kDeltaMinSize;
};

class PutPipeline {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    /// The item reached kDone (success or failure, already reported) or
    /// kRetryLater.
    virtual void on_settled(Session& session, UploadItem& item) = 0;
  };

  PutPipeline(const UploadSettings& settings, TransferReport& report, Listener& listener,
              std::uint32_t& next_id);
  /// Gives the hash of an upload the read-ahead holds back to its item
  /// (the next connection resets it) and ends the read-ahead's thread.
  ~PutPipeline();
  PutPipeline(const PutPipeline&) = delete;
  PutPipeline& operator=(const PutPipeline&) = delete;

  /// Requests in flight: uploads, their probes, and uploads waiting to be
  /// sent again for a slot (TOO_MANY_UPLOADS).
  std::size_t in_flight() const { return in_flight_ + probes_.size() + slot_waiters_.size(); }
  /// Whether another upload may start now: none waits for a slot and fewer
  /// are in flight than the server lately accepted.
  bool has_room() const {
    return slot_waiters_.empty() && in_flight_ + probes_.size() < window_ &&
           in_flight() < limits::kMaxRequestsInFlight;
  }
  /// Opens the source if needed and sends the PUT; a source that cannot be
  /// opened settles the item as failed at once.
  void start(Session& session, UploadItem& item);
  /// Sends again the uploads refused for a slot once ours are fewer than
  /// the window, and queues DATA and END of the uploads that got PUT_READY,
  /// within the send-queue budget.
  void pump(Session& session);
  /// True if `id` is one of our uploads in flight.
  bool owns(std::uint32_t id) const { return by_id_.contains(id) || probes_.contains(id); }
  void on_frame(Session& session, Frame& frame);

 private:
  void on_put_ready(Session& session, UploadItem& item, const Frame& frame);
  void start_streaming(Session& session, UploadItem& item, const PutReadyMsg& ready);
  void rewind(Session& session, UploadItem& item, const PutReadyMsg& ready);
  void on_ok(Session& session, UploadItem& item);
  void on_error(Session& session, UploadItem& item, const Frame& frame);
  void stream_step(Session& session, UploadItem& item);
  // Big plain files are read and hashed ahead on the read-ahead's thread
  // (client/local/read_ahead.hpp), the front of streaming_ only.
  bool reads_ahead(Session& session, const UploadItem& item) const;
  void send_read_ahead(Session& session, UploadItem& item);
  /// Sends the chunks read already and stops the read-ahead, so that the
  /// item's hash covers exactly [0, next_offset) (a delta starting
  /// mid-file); false when the upload was cancelled meanwhile.
  bool drain_read_ahead(Session& session, UploadItem& item);
  /// Stops the read-ahead if it reads `item`, giving its hash back (only
  /// fit for reset() unless every chunk was taken).
  void stop_read_ahead(UploadItem& item);
  /// A read of the source failed: cancels the upload, as a changed source
  /// when size, mtime or ctime moved.
  void source_failed(Session& session, UploadItem& item, std::string why);
  // Delta uploads (put_delta.cpp).
  bool wants_delta(const UploadItem& item) const;
  void on_signature(Session& session, UploadItem& item, const Frame& frame);
  /// With DELTA_EARLY, a SIGNATURE after PUT_READY; false after a
  /// protocol error.
  bool take_early_signature(Session& session, UploadItem& item, const Frame& frame);
  /// At the first PUT_READY: the matcher when a whole signature came;
  /// false after a protocol error.
  bool start_delta(Session& session, UploadItem& item, std::uint64_t start);
  /// The matcher over the whole signature, from wherever the upload
  /// stands; none for a signature of no block.
  void start_matching(UploadItem& item);
  void delta_step(Session& session, UploadItem& item);
  /// Whether ops of `item`'s last matched window are still to be queued.
  bool delta_ops_pending(const UploadItem& item) const {
    return delta_ops_item_ == &item && delta_ops_sent_ < delta_ops_.size();
  }
  /// Queues the matched window's ops in order, its DATA only while the
  /// send queue is under the budget (the rest on a later pump()).
  void send_delta_ops(Session& session, UploadItem& item);
  /// Forgets `item`'s unsent ops (a rewind, a cancel, a retry).
  void drop_delta_ops(const UploadItem& item);
  /// DATA bytes unsent_chunk_bytes() may reach before pump() stops
  /// queuing chunks: 2 MiB (or two chunks), one chunk more with COMPRESS.
  std::size_t send_budget(const Session& session) const;
  /// DATA bytes queued and not yet written: in the send queue, or being
  /// compressed on their way to it.
  static std::size_t unsent_chunk_bytes(const Session& session);
  void show_phase(Session& session);
  bool hash_prefix(Session& session, UploadItem& item, std::uint64_t end);
  bool read_source(Session& session, UploadItem& item, std::uint64_t offset,
                   std::span<std::uint8_t> out);
  void cancel(Session& session, UploadItem& item, Error error);
  void finish(Session& session, UploadItem& item, std::optional<Error> failure, bool print);
  void defer(Session& session, UploadItem& item, Error reason);
  void wait_for_slot(Session& session, UploadItem& item, Error reason);
  void forget(UploadItem& item);
  // The probe after a BUSY (put_probe.cpp): a GET at the end of the remote
  // file tells its size, mtime and XXH3-128 without sending a byte of it.
  struct Probe {
    UploadItem* item;      // null once its answer no longer matters
    HashProbeReply reply;  // reads the GET's reply
  };
  void start_probe(Session& session, UploadItem& item);
  void on_probe_frame(Session& session, std::uint32_t id, Frame& frame);
  void probe_answered(Session& session, UploadItem& item, std::optional<Hash128> remote_hash);

  UploadSettings settings_;
  TransferReport& report_;
  Listener& listener_;
  std::uint32_t& next_id_;
  std::unordered_map<std::uint32_t, UploadItem*> by_id_;
  std::unordered_map<std::uint32_t, Probe> probes_;
  std::deque<UploadItem*> streaming_;  // PUT_READY arrival order
  // Uploads refused with TOO_MANY_UPLOADS, to PUT again once one of ours
  // ends, and the most uploads to keep open meanwhile.
  std::deque<UploadItem*> slot_waiters_;
  std::size_t window_ = limits::kMaxRequestsInFlight;
  std::size_t in_flight_ = 0;
  Bytes delta_window_;  // the part of a delta upload's source being matched
  // The ops found in delta_window_ (which starts at delta_window_offset_)
  // for delta_ops_item_, queued up to delta_ops_sent_: a window changed
  // throughout holds 4 MiB of DATA, twice the send budget.
  std::vector<delta::DeltaOp> delta_ops_;
  std::size_t delta_ops_sent_ = 0;
  std::uint64_t delta_window_offset_ = 0;
  const UploadItem* delta_ops_item_ = nullptr;
  ReadAhead read_ahead_;
  UploadItem* ahead_item_ = nullptr;  // the upload read_ahead_ reads
};

/// The source_id of a resumable upload: "<hostname>:<st_dev>:<st_ino>",
/// cut to the protocol's 255 bytes.
std::string source_id_for(std::uint64_t device, std::uint64_t inode);

}  // namespace ft::client
