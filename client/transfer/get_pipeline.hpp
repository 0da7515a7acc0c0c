#pragma once
// Pipelined downloads on one Session: GET, GET_READY, DATA, END or ERROR
// (protocol 5.2), every byte verified before the file is renamed into
// place through a LandingFile, verified files committed together by a
// CommitBatch (one sync for many files) on the CommitWorker's thread while
// the next files arrive; kept partial data is resumed with
// a GET from its length. The caller owns the DownloadItems (their address must not
// change while in flight), decides which file goes next and learns through
// on_settled() when one is done or deferred.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "client/local/chunk_writer.hpp"
#include "client/local/commit_batch.hpp"
#include "client/local/commit_worker.hpp"
#include "client/local/landing_file.hpp"
#include "client/report/progress.hpp"
#include "client/transfer/delta_mode.hpp"
#include "common/crypto/checksum.hpp"
#include "common/os/fd.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

class Session;
class TransferReport;

enum class DownloadState {
  kWaiting,     // GET not sent yet (on this connection)
  kGetSent,     // waiting for GET_READY
  kReceiving,   // DATA until END
  kCancelling,  // failed locally, CANCEL sent: ignore DATA until END or ERROR
  kCommitting,  // verified and sealed, waiting in the CommitBatch (no frames expected)
  kRetryLater,  // the server is shutting down: try on the next connection
  kDone,
};

struct DownloadItem {
  std::string remote;
  std::string local_name;  // the name in dir_fd
  std::string local_path;  // for messages
  int dir_fd = -1;         // borrowed: the directory it lands in
  DownloadState state = DownloadState::kWaiting;
  std::uint32_t id = 0;
  std::uint64_t start_offset = 0;         // the GET's offset
  std::optional<PartialRecord> resuming;  // the record of the kept data, when resuming
  GetReadyMsg ready;
  std::uint64_t received = 0;  // bytes [0, received) are in the partial file
  StreamHash128 hash;          // of those bytes
  // Chunks of this file were given to the ChunkWriter since the last drain:
  // its partial file and hash are the writer's until the next drain.
  bool writes_queued = false;
  std::string write_failure;  // why the writer could not write a chunk
  std::optional<LandingFile> landing;
  std::chrono::steady_clock::time_point started;
  std::optional<Error> retry_reason;  // with kRetryLater
  std::optional<Error> failure;
  void* owner = nullptr;  // for the caller (the tree walk's directory)
  // The size is in the progress total already (a tree walk counts it from
  // the listing; a plain run at the first GET_READY).
  bool size_counted = false;
  // A delta download (protocol 5.16, get_delta.cpp): the GET set DELTA,
  // the local file it replaces (the basis) held open since.
  bool delta_asked = false;
  /// Its directory was created by this run (LandingFile::open's `fresh`).
  bool fresh_dir = false;
  /// The caller knows a delta cannot pay (no local file there, or the
  /// listed size is too small for --delta's default): no basis is opened.
  bool no_basis = false;
  bool delta_used = false;     // a signature of blocks went: COPY may come
  bool delta_refused = false;  // a delta failed verification: whole from now on
  Fd basis;
  std::uint64_t basis_size = 0;
  std::int64_t basis_mtime_ns = 0;
  std::uint64_t matched_bytes = 0;  // copied from the basis
  // Of `received`, what the progress line counted as present (a resumed
  // prefix, holes, copies from the basis) rather than moved: what an
  // attempt that starts again takes back (ProgressDisplay::take_back).
  std::uint64_t counted_present = 0;
  /// Takes back from `progress` what this attempt counted as done.
  void take_back_progress(ProgressDisplay& progress) const {
    progress.take_back(received - counted_present, counted_present);
  }

  /// Forgets this connection's progress before another attempt.
  void reset_for_retry();
};

class GetPipeline {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    /// The item reached kDone (success or failure, already reported) or
    /// kRetryLater.
    virtual void on_settled(Session& session, DownloadItem& item) = 0;
    /// A directory given to sync_directory() was synced (nullopt) or not
    /// (which step failed).
    virtual void on_directory_synced(Session&, void* /*cookie*/,
                                     const std::optional<std::string>& /*failure*/) {}
  };

  GetPipeline(TransferReport& report, Listener& listener, std::uint32_t& next_id);

  /// Requests in flight, and verified files waiting for their commit.
  std::size_t in_flight() const { return in_flight_; }
  /// Of in_flight(), the verified files waiting for their commit (in the
  /// batch being filled or the one being committed): no frame comes for
  /// them any more.
  std::size_t committing() const { return committing_; }
  /// True if one more GET may start while the caller has `others` requests
  /// of its own (LISTs, STATs) in flight. Two bounds:
  /// - the requests on the wire (GETs not ended, and `others`) stay under
  ///   limits::kMaxRequestsInFlight, the server's limit per connection;
  /// - every download holds its partial file open until its commit, so
  ///   in_flight() and `others` stay under half the process's descriptor
  ///   limit (a soft limit of 1024 made ftget -r of 10,000 files fail with
  ///   "Too many open files"), and under kMaxCommitting more than the
  ///   window (each waiting file costs a DownloadItem).
  /// Files waiting for their commit do not count in the first: on a disk a
  /// sync may take a second, and with them in the window the transfer
  /// stopped once it was full of them. Now it stops only at the second.
  bool has_room(std::size_t others = 0) const {
    return in_flight_ - committing_ + others < window_ && in_flight_ + others < descriptors_;
  }
  /// Files that may wait for their commit beyond the window of requests.
  static constexpr std::size_t kMaxCommitting = 2048;
  /// No request of ours (nor a cancelled one) still expects frames, and
  /// no directory waits for its sync.
  bool idle() const { return in_flight_ == 0 && abandoned_.empty() && directories_ == 0; }
  /// Makes the directory `dir_fd` (and `parent_fd`, unless -1) durable in
  /// the next group commit, after its files (CommitBatch::add_directory);
  /// the caller keeps both open until the listener's on_directory_synced()
  /// with `cookie`, which a connection that ends first never calls.
  void sync_directory(int dir_fd, int parent_fd, void* cookie);
  /// Redraws the progress line if it is due: for the handler's produce(),
  /// which the session calls even while the server is silent.
  void tick_progress();
  /// Commits the verified files waiting in the batch if it is due, or if
  /// nothing else is in flight (no more files are coming soon): for the
  /// handler's produce(), after it started what it could.
  void commit_due(Session& session);
  /// Readable when a batch of commits came back from its thread: the
  /// handler's wake_fd(), so that the files are reported done (and the
  /// window refilled) at once.
  int wake_fd() const { return worker_.wake_fd(); }
  /// For the end of a connection that failed (the handler's destructor,
  /// before it keeps the partial files): waits for the batch being
  /// committed and reports its files, which are durable in place, done
  /// or failed without calling on_settled (the session is gone). Returns
  /// the items reported; the files still waiting for a batch are left to
  /// the caller, untouched. First it waits for the chunks still being
  /// written, and closes (removes) the partial file of a download whose
  /// chunk could not be written: what the caller keeps holds what came.
  std::vector<DownloadItem*> abandon_commits();
  /// Opens the partial file and sends the GET (from the kept length when
  /// the partial data can be resumed); a partial file that cannot be
  /// opened settles the item as failed at once.
  void start(Session& session, DownloadItem& item);
  /// True if frames with this id are ours.
  bool owns(std::uint32_t id) const;
  void on_frame(Session& session, Frame& frame);
  /// Plain ftget (no -r): a remote directory's IS_A_DIRECTORY says to use
  /// -r, as ftsend says for a local one.
  void suggest_recursive() { suggest_recursive_ = true; }
  /// --delta / --no-delta (kAuto by default).
  void set_delta(DeltaMode mode) { delta_mode_ = mode; }
  DeltaMode delta_mode() const { return delta_mode_; }

 private:
  std::uint64_t resume_offset(DownloadItem& item);
  void send_get(Session& session, DownloadItem& item, std::uint64_t offset, bool delta = false);
  void start_over(Session& session, DownloadItem& item);
  void on_get_ready(Session& session, DownloadItem& item, const Frame& frame);
  bool hash_kept_prefix(DownloadItem& item, std::string& why);
  void on_data(Session& session, DownloadItem& item, Frame& frame);
  /// Waits for the chunks of `item` given to the writer (and any other):
  /// its file and hash are then the pipeline's again. True unless one of
  /// them could not be written (`item.write_failure` says why).
  bool settle_writes(DownloadItem& item);
  void on_hole(Session& session, DownloadItem& item, const Frame& frame);
  // Delta downloads (get_delta.cpp).
  /// Opens the local file the download replaces, if a delta may pay.
  bool open_basis(Session& session, DownloadItem& item);
  /// At GET_READY of a delta GET: the basis's signature, or an empty one
  /// when a delta would not pay; false if the session failed.
  void send_signature(Session& session, DownloadItem& item);
  void on_copy(Session& session, DownloadItem& item, const Frame& frame);
  /// A delta that failed its whole-file check: the file again, plainly.
  void retry_without_delta(Session& session, DownloadItem& item);
  void on_end(Session& session, DownloadItem& item, const Frame& frame);
  void on_error(Session& session, DownloadItem& item, const Frame& frame);
  void cancel(Session& session, DownloadItem& item, Error error);
  void flush_commits();
  void take_commits(Session& session, const std::vector<CommitBatch::Outcome>& outcomes);
  void finish(Session& session, DownloadItem& item, std::optional<Error> failure, bool print);
  void report(const DownloadItem& item, const Error& error);

  TransferReport& report_;
  Listener& listener_;
  std::uint32_t& next_id_;
  std::unordered_map<std::uint32_t, DownloadItem*> by_id_;
  std::unordered_set<std::uint32_t> late_cancel_replies_;
  std::unordered_set<std::uint32_t> abandoned_;
  CommitBatch commits_;               // verified files waiting for the next batch
  CommitWorker worker_;               // the batch being committed, if any
  ChunkWriter writer_;                // the received chunks being written
  std::vector<Bytes> spent_buffers_;  // from writer_, for the decoder
  std::size_t in_flight_ = 0;
  std::size_t committing_ = 0;   // of in_flight_
  std::size_t directories_ = 0;  // given to sync_directory(), not synced yet
  std::size_t descriptors_;      // see has_room()
  std::size_t window_;
  bool suggest_recursive_ = false;
  DeltaMode delta_mode_ = DeltaMode::kAuto;
};

}  // namespace ft::client
