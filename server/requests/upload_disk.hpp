#pragma once
// An upload's worker-thread steps (the loop side is upload.cpp): the checks
// that need the disk, opening the temporary or partial file, writing
// verified chunks in order, an eager upload's whole life inside a group
// commit, and removing what a failed upload created. Each runs inside a
// thread-pool job, one job at a time per upload; none touches the loop.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/crypto/checksum.hpp"
#include "common/delta/block_signature.hpp"
#include "common/rules/errors.hpp"
#include "server/storage/root_fs.hpp"
#include "server/storage/space_ledger.hpp"

namespace ft::server {

class BatchDirs;
struct CommitItem;

/// Why the server will not take an upload (rights, space, a failed
/// lookup), decided on the thread pool before anything is created.
struct Refusal {
  ErrorCode code;
  std::string message;
};

/// A verified DATA payload waiting to be written, or a COPY of a range of
/// the basis (docs/protocol.md, section 5.12) when copy_length > 0.
struct UploadChunk {
  Bytes payload;  // the DATA payload: 16-byte prefix, then the bytes (a COPY's: its fields)
  std::uint64_t offset;
  bool restart;  // drop the partial data first (the client chose offset 0)
  std::uint64_t basis_offset = 0;
  std::uint64_t copy_length = 0;
  /// What the chunk counts in its connection's disk backlog: a COPY costs
  /// more than its 24 bytes of payload (the queue entry itself), so that a
  /// peer sending tiny COPYs by the million is held by the same mark.
  std::size_t backlog_charge() const {
    return copy_length > 0 ? kCopyBacklogCharge : payload.size();
  }
  static constexpr std::size_t kCopyBacklogCharge = 256;
  std::uint64_t hole = 0;  // a HOLE of this many zero bytes (payload: its 16 bytes)
};

/// What the worker owns while a job runs.
struct UploadDisk {
  Fd dir;
  Fd file;
  std::string temp_name;  // cleared once renamed into place
  StreamHash128 hash;     // of the bytes written, in order
  std::optional<Refusal> refusal;
  /// What this upload still has to write, promised in the server's ledger
  /// from the check until the file is committed or dropped.
  std::unique_ptr<SpaceClaim> space;
  /// Bytes the partial file held when the upload was checked (what opening
  /// it will hash).
  std::uint64_t partial_held = 0;
  /// The partial file, once a resumable upload opened it.
  std::optional<FileId> partial_file;
  /// A delta upload's basis: the file it replaces, opened when its
  /// signature was made (COPY ranges are read from it). Handed over by the
  /// loop between two jobs once its signature is sent.
  Fd basis;
};

/// What an upload asks of the disk: where, under which rights, how much.
struct UploadPlan {
  int root = -1;                        // the identity's root
  std::vector<std::string> components;  // the path below it
  NamePolicy names;                     // what may be done to the final name
  std::uint64_t size = 0;
  std::uint64_t reserve = 0;      // free space the server keeps
  SpaceLedger* ledger = nullptr;  // space promised to open uploads (server-wide)
};

/// The name checks every upload passes before anything is created: may
/// the identity write the final name in `parent` (-1: that directory does
/// not exist yet). `check_name` false skips the lookup of the name (both
/// rights: any name will do, and a directory in the way fails the rename
/// before anything is visible).
std::optional<Refusal> refuse_name(int parent, const std::string& name, NamePolicy names,
                                   bool check_name);

/// NO_SPACE with the reason, for a verdict other than kAdmitted.
Refusal space_refusal(SpaceVerdict verdict);

/// A plain or resumable upload's first job: the checks, then for a plain
/// upload its temporary file (creating missing parents); a resumable one
/// (`partial` = its partial file's name) only gets its parent, if it
/// exists, and the identity of the root its key will name. The refusal,
/// if any, is in disk.refusal.
void open_upload(const UploadPlan& plan, const std::string& partial, UploadDisk& disk,
                 std::string& root_id);

/// A resumable upload's second job, once it holds the partial file's key:
/// opens (or creates) the partial file and hashes what it already holds.
/// Returns 0 or an errno value; `offset` is where the data resumes.
int open_partial(const UploadPlan& plan, const std::string& partial, UploadDisk& disk,
                 std::uint64_t& offset);

/// Writes `chunks` in order and adds them to the file's hash; a chunk
/// marked `restart` truncates the partial data first. 0 or an errno value.
int write_chunks(UploadDisk& disk, std::deque<UploadChunk>& chunks);

/// An eager upload inside its group commit (CommitItem::prepare): the same
/// checks as open_upload, then the file created with its final mode and its
/// chunks written. 0, or an errno value (EPERM with disk.refusal set).
int prepare_eager(const UploadPlan& plan, UploadDisk& disk, std::deque<UploadChunk>& chunks,
                  CommitItem& item, BatchDirs& dirs);

/// A delta upload's basis being signed (docs/protocol.md, section 5.12),
/// in one or two slices of blocks, each by a thread-pool job of its own.
/// Only the signing jobs and, between them, the loop touch it, never the
/// upload's write jobs: with DELTA_EARLY the upload's data is written
/// while its basis is signed.
struct BasisSigning {
  /// Blocks of the basis one job signs.
  struct Slice {
    delta::SignatureBuilder builder;
    std::uint64_t from = 0;     // its first byte in the basis
    bool signed_whole = false;  // its job read all it needed
  };
  Fd basis;  // the file the upload replaces, kept open for its COPY frames
  std::uint64_t size = 0;
  std::vector<Slice> slices;  // in order; one or two
  /// The upload no longer needs the signature (it ended, or its END came
  /// first): the jobs stop at their next read.
  std::atomic<bool> abandoned{false};
};

/// A basis at least this big is signed in two slices (by two jobs at once
/// when a second hashing slot is free).
inline constexpr std::uint64_t kSignSplitAt = 16 * 1024 * 1024;

/// Opens the regular file `name` in `dir` (not through a link, never
/// blocking on a FIFO) as a basis to sign, cut into two slices when it
/// holds kSignSplitAt bytes or more; null when there is none, it cannot be
/// read or it is smaller than `min_size`.
std::unique_ptr<BasisSigning> open_basis(int dir, const std::string& name, std::uint64_t min_size);

/// A job: reads and signs slice `slice` of the basis; records in
/// signing.signed_whole whether it read all of it. Never throws.
void sign_slice(BasisSigning& signing, std::size_t slice);

/// On the loop, once every slice's job ended: the whole signature's
/// parts, the slices joined; none if a slice was not signed whole.
std::vector<delta::SignaturePart> join_slices(BasisSigning& signing);

/// Writes a COPY chunk: the basis range into the file (copy_file_range),
/// then the written bytes into the file's hash. 0 or an errno value (EIO
/// when the basis is shorter than the range).
int copy_from_basis(UploadDisk& disk, const UploadChunk& chunk);

/// Closes the file and, unless `keep_partial`, removes the temporary file
/// (a resumable upload cut by a lost connection keeps its data).
void discard_upload(UploadDisk* disk, bool keep_partial);

}  // namespace ft::server
