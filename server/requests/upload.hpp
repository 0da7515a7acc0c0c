#pragma once
// Receiving one file (PUT). Data goes to a hidden file beside the
// destination: a random temporary name, or for a resumable upload
// (docs/protocol.md, section 5.4) the partial file named after the source,
// kept across lost connections. Chunks are checked on arrival (a bad one
// triggers a rewind when RESUME was agreed) and written in order by jobs on
// the thread pool; after END the whole-file hash and size are checked, and
// the file is fsynced and renamed into place before OK is sent.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "common/crypto/checksum.hpp"
#include "common/wire/messages.hpp"
#include "server/core/request_context.hpp"
#include "server/requests/upload_disk.hpp"

namespace ft::server {

struct CommitItem;

class Upload : public Request, public std::enable_shared_from_this<Upload> {
 public:
  static std::shared_ptr<Upload> start(RequestContext& context, std::uint32_t id, PutMsg put);
  Upload(RequestContext& context, std::uint32_t id, PutMsg put);
  ~Upload() override;
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;
  bool on_frame(Frame& frame) override;
  std::string frame_violation() const override { return violation_; }
  void abort(ErrorCode code, bool notify) override;
  /// A resume waiting in line for a hashing slot waits on the server, not
  /// on its peer: the idle timeout does not run meanwhile.
  /// So does a compressed chunk being decompressed on the thread pool.
  bool waiting_on_disk() const override { return busy() || waiting_for_slot_ || inflating_; }

 private:
  /// The life of an upload:
  ///   kOpening -> kReceiving -> kCommitting -> kFinished   (OK sent)
  ///   kOpening -> kRefusing -> kFinished                   (refused before opening)
  ///   any but kCommitting/kFinished -> kFinished           (failed, cancelled, cut)
  /// An eager upload stays in kOpening while its DATA and END queue, then
  /// commits. Once kFinished, `ending_` says what happens to its file.
  enum class State { kOpening, kRefusing, kReceiving, kCommitting, kFinished };
  /// What a finished upload does with its data once the job in flight ends.
  enum class Ending {
    kNone,         // not finished, or committed
    kDiscard,      // failed or cancelled: close and remove the temporary file
    kKeepPartial,  // the connection was lost: write what was verified, keep it
  };
  using Chunk = UploadChunk;
  using DiskState = UploadDisk;

  void refuse_later(ErrorCode code, std::string message);
  void open();
  void open_partial_file();
  /// Opens the partial file and hashes what it holds, in a job of its own.
  void hash_partial_file();
  void opened(int err, std::uint64_t offset, const Hash128& prefix_hash);
  void fail_commit(int err);
  void release_slot();
  /// Gives back the quota claim, if held, as `outcome` says.
  void settle_quota(QuotaOutcome outcome);
  UploadPlan plan() const;
  bool on_data(Frame& frame);
  /// A DATA chunk that passed the order and size checks, with the XXH3-64
  /// of its bytes (`computed`): queued for the disk, or a rewind or failure
  /// if that is not the hash the frame carries.
  void take_chunk(Bytes payload, std::uint64_t computed, std::size_t length, bool restart);
  // Compressed DATA (section 5.15, upload_inflate.cpp): decompressed and
  // hashed by a job on the thread pool, never on the loop. The upload's
  // later frames wait in `held_` until the job is done and are then taken
  // in order, so each is checked against the state it would have met had
  // the chunk been decompressed at once.
  /// Starts the job for a compressed DATA that declares `length` bytes.
  void inflate(Frame& frame, std::size_t length, bool restart);
  /// Keeps a frame that came while a chunk decompresses.
  void hold(Frame& frame);
  /// Takes the held frames in order, until one starts another job.
  void replay_held();
  /// Drops the held frames (the upload ended).
  void drop_held();
  /// A frame found bad after on_frame returned: the connection fails with
  /// the reason the session gives a refused frame.
  void fail_protocol_later(FrameType type, const std::string& reason);
  bool on_hole(Frame& frame);
  /// The order rules DATA and HOLE share (docs/protocol.md 7.2, rules 7
  /// and 8): dropped during a rewind, a restart from 0, a gap or overlap.
  enum class Order { kTake, kDrop, kViolation };
  Order check_order(std::uint64_t offset, bool& restart);
  bool on_end(Frame& frame);
  /// A STREAM upload's DATA of `length` bytes, checked against the limits
  /// a declared size is checked against at PUT: false once it failed.
  bool stream_fits(std::size_t length);
  /// A STREAM upload's END: its quota claim moves from 0 to the real size.
  bool claim_stream_size(std::uint64_t size);
  /// Delta uploads (upload_delta.cpp): the basis's signature goes out
  /// before PUT_READY, or with DELTA_EARLY after it while DATA already
  /// flows (then exactly one whole signature, of no block when there is
  /// nothing to sign, before OK); COPY frames take ranges of the basis.
  /// The signing holds a hashing slot (two for two slices at once).
  void start_signing(const Hash128& prefix_hash);
  void signing_slot_granted(const Hash128& prefix_hash);
  void sign_slices(std::shared_ptr<BasisSigning> signing, const Hash128& prefix_hash);
  void signing_done(BasisSigning& signing, const Hash128& prefix_hash);
  /// Sends the parts (one part of no block when empty); COPY is taken
  /// from now on if they sign any block.
  void send_signature(const std::vector<delta::SignaturePart>& parts);
  /// Once the END came (DELTA_EARLY) or the upload ended: the signature
  /// is of no use any more.
  void abandon_signing();
  /// Moves a signed basis into the disk state; only between two jobs.
  void adopt_basis();
  /// A job of this upload runs: its write job, or its signing.
  bool busy() const { return job_running_ || signing_ == Signing::kRunning; }
  bool on_copy(Frame& frame);
  /// Records why a DATA or END is refused; returns false for on_frame.
  bool violate(std::string reason);
  void rewind(std::uint64_t offset);
  void pump();
  void commit();
  void commit_eager();
  /// The group commit's view of this upload: name, metadata, expected hash.
  std::shared_ptr<CommitItem> commit_item(DiskState& disk) const;
  void fail(ErrorCode code, const std::string& message);
  void cleanup(bool keep_partial);
  void drop_queue();
  void finish(const std::string& result);
  void send_put_ready(std::uint64_t offset, const Hash128& prefix_hash);
  void submit_disk_job(std::size_t bytes, std::function<void()> work, std::function<void()> done);

  static constexpr std::size_t kBatchedWriteLimit = 256 * 1024;
  /// Partial data up to this size is hashed without a hashing slot: it
  /// takes a few milliseconds.
  static constexpr std::uint64_t kHashedWithoutSlot = 1024 * 1024;
  /// A file smaller than this is not worth a signature: sending it whole
  /// costs about one round trip more than the signature itself.
  static constexpr std::uint64_t kMinDeltaBasis = 64 * 1024;

  ContextRef context_;
  std::uint32_t id_;
  PutMsg put_;
  bool resumable_;
  bool eager_;           // DATA and END come without waiting for PUT_READY
  bool stream_;          // STREAM: the size is known at END (docs/protocol.md, 5.14)
  bool delta_;           // DELTA: the basis's signature before PUT_READY, COPY frames after
  bool early_;           // DELTA with DELTA_EARLY: the signature after PUT_READY
  bool signed_ = false;  // the signature step ran (sent or not)
  /// Where the signature stands: asked for a hashing slot, jobs running
  /// (BasisSigning), sent or given up.
  enum class Signing { kNone, kWaiting, kRunning, kDone };
  Signing signing_ = Signing::kNone;
  std::shared_ptr<BasisSigning> signing_state_;  // while kRunning
  bool extra_hashing_slot_ = false;              // the second slice's slot
  Fd signed_basis_;               // signed, waiting to move into disk_ between two jobs
  std::uint64_t basis_size_ = 0;  // of the signature sent; 0: COPY refused
  std::uint64_t copied_ = 0;      // bytes taken from the basis
  std::vector<std::string> components_;
  NamePolicy names_;                 // what this identity may do to the final name
  bool slot_held_ = false;           // counted in the identity's open uploads
  std::optional<QuotaClaim> quota_;  // counted against the identity's quotas
  std::string claim_;                // the partial file's key in the server's registry
  std::string violation_;            // why the last DATA or END was refused
  State state_ = State::kOpening;
  std::shared_ptr<DiskState> disk_;  // touched only by one job at a time
  std::deque<Chunk> queue_;
  bool job_running_ = false;
  bool inflating_ = false;           // a compressed chunk's job runs (upload_inflate.cpp)
  std::deque<Frame> held_;           // this upload's frames that came meanwhile
  std::size_t held_bytes_ = 0;       // their payloads, counted in the disk backlog
  bool holds_hashing_slot_ = false;  // one of the server's (start_hashing)
  bool waiting_for_slot_ = false;    // in line for one
  Ending ending_ = Ending::kNone;
  bool end_received_ = false;
  EndMsg end_;
  std::uint64_t offered_ = 0;   // offset offered in the first PUT_READY
  bool first_data_ = true;      // the next DATA decides where we start
  std::uint64_t received_ = 0;  // next expected offset
  std::uint64_t bytes_this_connection_ = 0;
  int rewinds_ = 0;
  std::optional<std::uint64_t> rewind_to_;  // DATA dropped until this offset
  bool rewind_reply_pending_ = false;       // PUT_READY sent once writes drain
  std::optional<ErrorMsg> pending_error_;   // sent once the temp file is gone
  std::chrono::steady_clock::time_point started_;
};

}  // namespace ft::server
