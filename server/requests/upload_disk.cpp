#include "server/requests/upload_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/base/limits.hpp"
#include "common/os/anonymous_file.hpp"
#include "common/os/exact_io.hpp"
#include "common/os/sparse.hpp"
#include "server/storage/file_lock.hpp"
#include "server/storage/job_batcher.hpp"
#include "server/storage/partial_record.hpp"

namespace ft::server {
namespace {

// The same words as before the ledger: scripts and tests match them.
constexpr const char* kReserveMessage =
    "upload refused: would leave less than the server's free-space reserve";
constexpr const char* kInodeMessage =
    "upload refused: the file system is running out of inodes (free files)";

Refusal refusal_from_errno(int err) {
  return Refusal{error_from_errno(err), std::strerror(err)};
}

}  // namespace

std::optional<Refusal> refuse_name(int parent, const std::string& name, NamePolicy names,
                                   bool check_name) {
  if (!check_name) return std::nullopt;
  const int verdict = check_name_policy(parent, name, names);
  if (verdict == kForbiddenByRights) {
    return Refusal{ErrorCode::FORBIDDEN, "this identity may not create new files"};
  }
  if (verdict == EEXIST) {
    return Refusal{ErrorCode::EXISTS, "the file exists and this identity may not overwrite it"};
  }
  if (verdict != 0) return refusal_from_errno(verdict);
  return std::nullopt;
}

Refusal space_refusal(SpaceVerdict verdict) {
  return Refusal{ErrorCode::NO_SPACE,
                 verdict == SpaceVerdict::kNoInodes ? kInodeMessage : kReserveMessage};
}

void open_upload(const UploadPlan& plan, const std::string& partial, UploadDisk& disk,
                 std::string& root_id) {
  Fd parent;
  int err = open_existing_parent(plan.root, plan.components, parent);
  if (err != 0 && err != ENOENT) {
    disk.refusal = refusal_from_errno(err);
    return;
  }
  const bool missing = err == ENOENT;
  // Partial data already held needs no more space.
  std::uint64_t held = 0;
  std::optional<FileId> kept;  // the partial file, whose kept entry this upload takes over
  struct stat st;
  if (!missing && !partial.empty() &&
      ::fstatat(parent.get(), partial.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode)) {
    kept = FileId{st.st_dev, st.st_ino};
    if (static_cast<std::uint64_t>(st.st_size) <= plan.size) {
      held = static_cast<std::uint64_t>(st.st_size);
    }
  }
  disk.refusal = refuse_name(missing ? -1 : parent.get(), plan.components.back(), plan.names, true);
  if (disk.refusal) return;
  // Checked against the identity's root, so a 2^63-byte declaration costs
  // one fstatvfs; the ledger adds what other open uploads will still write.
  FreeSpace space;
  if ((err = free_space(plan.root, space)) != 0) {
    disk.refusal = refusal_from_errno(err);
    return;
  }
  const SpaceVerdict verdict =
      plan.ledger->admit(space, plan.size, held, plan.reserve, disk.space, kept);
  if (verdict != SpaceVerdict::kAdmitted) {
    disk.refusal = space_refusal(verdict);
    return;
  }
  if (!partial.empty()) {
    disk.partial_held = held;
    disk.dir = std::move(parent);  // still closed when missing
    if ((err = directory_identity(plan.root, root_id)) != 0) disk.refusal = refusal_from_errno(err);
    return;
  }
  if (missing && (err = open_parent_creating(plan.root, plan.components, parent)) != 0) {
    disk.refusal = refusal_from_errno(err);
    return;
  }
  disk.dir = std::move(parent);
  if ((err = create_temp_file(disk.dir.get(), disk.temp_name, disk.file)) != 0 ||
      (err = lock_whole_file(disk.file.get())) != 0) {
    // Locked as a partial file is: another server of this root starting up
    // removes only the temporary files no upload holds (partial_cleanup).
    disk.refusal = refusal_from_errno(err);
  }
}

int open_partial(const UploadPlan& plan, const std::string& partial, UploadDisk& disk,
                 std::uint64_t& offset) {
  if (!disk.dir) {
    if (int err = open_parent_creating(plan.root, plan.components, disk.dir)) return err;
  }
  const int err =
      open_partial_data(disk.dir.get(), partial, plan.size, disk.file, disk.hash, offset);
  // Named as this upload's file (which a failure removes) only once it is
  // open and locked: a partial file another server holds (EWOULDBLOCK, then
  // BUSY) is that upload's, and stays.
  if (disk.file) disk.temp_name = partial;
  if (err != 0) return err;
  // From now on the partial file's need is this upload's promise, and
  // what it still lacks if it is cut and kept (discard_upload).
  struct stat st;
  if (::fstat(disk.file.get(), &st) != 0) return errno;
  disk.partial_file = FileId{st.st_dev, st.st_ino};
  if (disk.space) disk.space->opened_partial(*disk.partial_file);
  // Its declared size, for a server started again to count it as this one
  // does (best effort: without it the file counts at its size on disk).
  if (offset == 0) record_declared_size(disk.file.get(), plan.size);
  return 0;
}

int write_chunks(UploadDisk& disk, std::deque<UploadChunk>& chunks) {
  for (UploadChunk& chunk : chunks) {
    if (chunk.restart) {
      if (::ftruncate(disk.file.get(), 0) != 0) return errno;
      disk.hash.reset();
      if (disk.space) disk.space->truncated();
    }
    if (chunk.copy_length > 0) {
      if (int err = copy_from_basis(disk, chunk)) return err;
      continue;
    }
    if (chunk.hole > 0) {
      if (int err = write_hole(disk.file.get(), chunk.offset, chunk.hole)) return err;
      if (disk.space) disk.space->wrote_to(chunk.offset + chunk.hole);
      hash_zeros(disk.hash, chunk.hole);
      continue;
    }
    ByteSpan bytes = ByteSpan(chunk.payload).subspan(limits::kDataPrefixSize);
    if (int err = write_exact_at(disk.file.get(), bytes.data(), bytes.size(), chunk.offset)) {
      return err;
    }
    // Written bytes are in the file system's own count from now on.
    if (disk.space) disk.space->wrote_to(chunk.offset + bytes.size());
    // Only bytes that reached the file count toward the file's hash.
    disk.hash.update(bytes);
  }
  return 0;
}

int prepare_eager(const UploadPlan& plan, UploadDisk& disk, std::deque<UploadChunk>& chunks,
                  CommitItem& item, BatchDirs& dirs) {
  const int parent = dirs.existing_parent_of(plan.root, plan.components);
  if (parent < 0 && parent != -ENOENT) return -parent;
  const bool check_name = !plan.names.create || !plan.names.overwrite;
  disk.refusal = refuse_name(parent, plan.components.back(), plan.names, check_name);
  if (disk.refusal) return EPERM;
  // Small files arrive by the thousand: one fstatvfs per batch, not one
  // per file.
  FreeSpace space;
  if (int err = dirs.free_space(plan.root, space)) {
    disk.refusal = refusal_from_errno(err);
    return EPERM;
  }
  // Lives and dies inside this batch, so it holds no claim: the batch's
  // own count covers its earlier items, the ledger the open uploads.
  const SpaceVerdict verdict =
      SpaceLedger::fits(space, plan.ledger->outstanding(space.device), plan.size, plan.reserve);
  if (verdict != SpaceVerdict::kAdmitted) {
    disk.refusal = space_refusal(verdict);
    return EPERM;
  }
  dirs.claim_bytes(plan.root, plan.size);
  const int dir = parent >= 0 ? parent : dirs.parent_of(plan.root, plan.components);
  if (dir < 0) return -dir;
  // Created with its final permission bits when the umask keeps them all:
  // one fchmod less per small file.
  const mode_t mode = item.mode & 0777;
  item.mode_applied = (mode & process_umask()) == 0;
  const mode_t create_mode = item.mode_applied ? mode : 0600;
  // Unnamed until the commit links it (anonymous_file.hpp), where one
  // syncfs covers the batch; else under a hidden temporary name.
  int err = EOPNOTSUPP;
  if (dirs.sync_method(dir) == SyncMethod::kSyncfs) {
    err = create_anonymous_file(dir, create_mode, disk.file);
    item.anonymous = err == 0;
  }
  if (err == EOPNOTSUPP) {
    if ((err = create_temp_file(dir, disk.temp_name, disk.file, create_mode)) != 0) return err;
    // Locked like every upload's file, for the few milliseconds it lives: a
    // server of the same root starting now leaves it alone (partial_cleanup).
    err = lock_whole_file(disk.file.get());
  }
  if (err != 0) return err;
  item.file = disk.file.get();
  item.dir = dir;
  item.temp_name = disk.temp_name;
  return write_chunks(disk, chunks);
}

void discard_upload(UploadDisk* disk, bool keep_partial) {
  if (disk == nullptr) return;
  struct stat st;
  if (keep_partial && disk->space && disk->file && ::fstat(disk->file.get(), &st) == 0) {
    // What the kept file still lacks stays promised (docs/server.md,
    // "Free-space reserve").
    disk->space->keep_partial(static_cast<std::uint64_t>(st.st_size));
  }
  disk->file.reset();
  disk->basis.reset();
  if (!keep_partial && !disk->temp_name.empty() && disk->dir &&
      ::unlinkat(disk->dir.get(), disk->temp_name.c_str(), 0) == 0 && disk->space) {
    disk->space->removed_partial();
  }
}

}  // namespace ft::server
