#include "server/requests/upload_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/base/limits.hpp"
#include "common/os/exact_io.hpp"
#include "server/storage/job_batcher.hpp"

namespace ft::server {
namespace {

constexpr const char* kReserveMessage =
    "upload refused: would leave less than the server's free-space reserve";

Refusal refusal_from_errno(int err) {
  return Refusal{error_from_errno(err), std::strerror(err)};
}

}  // namespace

std::optional<Refusal> refuse_upload(int parent, const std::string& name, NamePolicy names,
                                     bool check_name, int space_err, std::uint64_t available,
                                     std::uint64_t needed, std::uint64_t reserve) {
  if (check_name) {
    const int verdict = check_name_policy(parent, name, names);
    if (verdict == kForbiddenByRights) {
      return Refusal{ErrorCode::FORBIDDEN, "this identity may not create new files"};
    }
    if (verdict == EEXIST) {
      return Refusal{ErrorCode::EXISTS, "the file exists and this identity may not overwrite it"};
    }
    if (verdict != 0) return refusal_from_errno(verdict);
  }
  if (space_err != 0) return refusal_from_errno(space_err);
  // Checked against the identity's root, so a 2^63-byte declaration costs
  // one fstatvfs.
  if (needed > available || available - needed < reserve) {
    return Refusal{ErrorCode::NO_SPACE, kReserveMessage};
  }
  return std::nullopt;
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
  struct stat st;
  if (!missing && !partial.empty() &&
      ::fstatat(parent.get(), partial.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) <= plan.size) {
    held = static_cast<std::uint64_t>(st.st_size);
  }
  std::uint64_t available = 0;
  const int space_err = available_bytes(plan.root, available);
  disk.refusal = refuse_upload(missing ? -1 : parent.get(), plan.components.back(), plan.names,
                               true, space_err, available, plan.size - held, plan.reserve);
  if (disk.refusal) return;
  if (!partial.empty()) {
    disk.dir = std::move(parent);  // still closed when missing
    if ((err = directory_identity(plan.root, root_id)) != 0) disk.refusal = refusal_from_errno(err);
    return;
  }
  if (missing && (err = open_parent_creating(plan.root, plan.components, parent)) != 0) {
    disk.refusal = refusal_from_errno(err);
    return;
  }
  disk.dir = std::move(parent);
  if ((err = create_temp_file(disk.dir.get(), disk.temp_name, disk.file)) != 0) {
    disk.refusal = refusal_from_errno(err);
  }
}

int open_partial(const UploadPlan& plan, const std::string& partial, UploadDisk& disk,
                 std::uint64_t& offset) {
  if (!disk.dir) {
    if (int err = open_parent_creating(plan.root, plan.components, disk.dir)) return err;
  }
  disk.temp_name = partial;
  return open_partial_data(disk.dir.get(), partial, plan.size, disk.file, disk.hash, offset);
}

int write_chunks(UploadDisk& disk, std::deque<UploadChunk>& chunks) {
  for (UploadChunk& chunk : chunks) {
    if (chunk.restart) {
      if (::ftruncate(disk.file.get(), 0) != 0) return errno;
      disk.hash.reset();
    }
    ByteSpan bytes = ByteSpan(chunk.payload).subspan(limits::kDataPrefixSize);
    if (int err = write_exact_at(disk.file.get(), bytes.data(), bytes.size(), chunk.offset)) {
      return err;
    }
    // Only bytes that reached the file count toward the file's hash.
    disk.hash.update(bytes);
  }
  return 0;
}

int prepare_eager(const UploadPlan& plan, UploadDisk& disk, std::deque<UploadChunk>& chunks,
                  CommitItem& item, BatchDirs& dirs) {
  const int parent = dirs.existing_parent_of(plan.root, plan.components);
  if (parent < 0 && parent != -ENOENT) return -parent;
  // Small files arrive by the thousand: one fstatvfs per batch, not one
  // per file.
  std::uint64_t available = 0;
  const int space_err = dirs.available_bytes(plan.root, available);
  const bool check_name = !plan.names.create || !plan.names.overwrite;
  disk.refusal = refuse_upload(parent, plan.components.back(), plan.names, check_name, space_err,
                               available, plan.size, plan.reserve);
  if (disk.refusal) return EPERM;
  dirs.claim_bytes(plan.root, plan.size);
  const int dir = parent >= 0 ? parent : dirs.parent_of(plan.root, plan.components);
  if (dir < 0) return -dir;
  // Created with its final permission bits when the umask keeps them all:
  // one fchmod less per small file.
  const mode_t mode = item.mode & 0777;
  item.mode_applied = (mode & process_umask()) == 0;
  if (int err = create_temp_file(dir, disk.temp_name, disk.file, item.mode_applied ? mode : 0600)) {
    return err;
  }
  item.file = disk.file.get();
  item.dir = dir;
  item.temp_name = disk.temp_name;
  return write_chunks(disk, chunks);
}

void discard_upload(UploadDisk* disk, bool keep_partial) {
  if (disk == nullptr) return;
  disk->file.reset();
  if (!keep_partial && !disk->temp_name.empty() && disk->dir) {
    ::unlinkat(disk->dir.get(), disk->temp_name.c_str(), 0);
  }
}

}  // namespace ft::server
