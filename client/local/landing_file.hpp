#pragma once
// A downloaded file on its way to its final name: written to a hidden
// partial file in the destination directory, with a small sidecar that
// records which remote file (path, size, mtime) the bytes belong to, and
// renamed over the final name only once the caller verified every byte.
// Until commit() succeeds the final name is never touched. A partial is
// either kept for a later run to resume (keep()) or removed (discard(), and
// on destruction); see docs/client.md.
#include <cstdint>
#include <optional>
#include <string>

#include "common/base/bytes.hpp"
#include "common/os/fd.hpp"

namespace ft::client {

/// The partial file of the final name `name`: ".ft-part.<name>", or
/// ".ft-part~<16 hex digits of XXH3-64(name)>" when the sidecar's name
/// would not fit in 255 bytes.
std::string partial_name_for(const std::string& name);
/// Its sidecar: ".ft-part-meta.<name>", or ".ft-part-meta~<16 hex>".
std::string partial_record_name_for(const std::string& name);

/// What the sidecar remembers about the remote file.
struct PartialRecord {
  std::string remote_path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const PartialRecord&, const PartialRecord&) = default;
};

class LandingFile {
 public:
  /// Opens the partial file of `name` in `dir_fd` (which the caller keeps
  /// open), creating it empty if missing, and locks it against another
  /// ftget writing the same one. Refuses a symbolic link, a hard link or
  /// anything but a regular file at the partial name. On failure returns
  /// nullopt and sets `why`.
  /// `fresh`: the caller created the directory in this run, so nobody
  /// planted anything at the record's name before: start_over() does not
  /// look there for a small file (write_record() still does, if it comes
  /// to that). There the file is made without a name (O_TMPFILE) and no
  /// lock: it takes its partial name when it turns out big (start_over())
  /// or is kept (keep()), and its final name at publish() (a link).
  static std::optional<LandingFile> open(int dir_fd, const std::string& name, std::string& why,
                                         bool fresh = false);

  LandingFile(LandingFile&& other) noexcept;
  LandingFile& operator=(LandingFile&& other) noexcept;
  LandingFile(const LandingFile&) = delete;
  LandingFile& operator=(const LandingFile&) = delete;
  ~LandingFile();

  /// Bytes the partial file held when opened (what a resume starts from).
  std::uint64_t length_at_open() const { return length_at_open_; }
  /// The sidecar's record, if there is a readable one.
  std::optional<PartialRecord> record() const;
  /// Empties the partial file and records `record` in the sidecar, renamed
  /// into place before any byte is written (for a file under 1 MiB only
  /// when kept: keep()). It is made durable with the data (keep(), or the
  /// sync of a CommitBatch), not on its own: a record lost to a crash only
  /// makes the next run start the file over.
  bool start_over(const PartialRecord& record, std::string& why);

  /// Reads all of `out` from `offset` (to hash the kept prefix).
  bool read_at(std::uint64_t offset, std::span<std::uint8_t> out, std::string& why) const;
  /// Writes all of `bytes` at `offset`; false with `why` set on failure.
  bool write_at(std::uint64_t offset, ByteSpan bytes, std::string& why);
  /// Makes `length` bytes at `offset` a hole of zeros (write_hole()).
  bool write_hole(std::uint64_t offset, std::uint64_t length, std::string& why);
  /// Applies the mode's 0777 bits and the mtime, fsyncs, renames over the
  /// final name (replacing a symbolic link there, never following it),
  /// removes the sidecar and fsyncs the directory. On failure the partial
  /// is removed and `why` says which step failed.
  bool commit(std::uint32_t mode, std::int64_t mtime_ns, std::string& why);
  /// The first step of a commit in a batch (CommitBatch): applies the
  /// mode's 0777 bits and the mtime; the data is not synced yet. On
  /// failure the partial is removed.
  bool seal(std::uint32_t mode, std::int64_t mtime_ns, std::string& why);
  /// The last step, once the caller made the data durable (syncfs or
  /// fsync of fd()): renames over the final name and removes the sidecar.
  /// The directory is not synced: the caller syncs each directory once.
  bool publish(std::string& why);
  /// The partial file's descriptor (valid until published or discarded;
  /// after a publish() that linked it, until close_linked()).
  int fd() const { return fd_.get(); }
  /// publish() linked a file that had no name (open()'s `fresh`): the link
  /// changed its inode, which a sync of the directory need not write; the
  /// caller syncs it (syncfs, or an fsync of fd()), then close_linked().
  bool linked() const { return linked_; }
  void close_linked();
  /// The directory it lands in (borrowed).
  int dir_fd() const { return dir_fd_; }
  /// Fsyncs and closes the partial file, leaving it and its sidecar for a
  /// later run to resume from; an empty partial file is removed instead, as
  /// by discard(), since there is nothing to resume.
  void keep();
  /// Removes the partial file and its sidecar (idempotent).
  void discard();

 private:
  LandingFile() = default;
  bool write_record(const PartialRecord& record, std::string& why);
  /// Why the record's name cannot be used (a symbolic link is there).
  std::optional<std::string> planted_record_link() const;
  /// Links the unnamed file under its partial name and locks it, as
  /// open() would have; false with `why` (EEXIST: someone made one).
  bool take_partial_name(std::string& why);
  int dir_fd_ = -1;  // borrowed
  Fd fd_;
  std::uint64_t length_at_open_ = 0;
  std::string partial_name_;  // empty once committed, kept or discarded
  std::string record_name_;
  std::string final_name_;
  std::optional<PartialRecord> unwritten_record_;  // a small file's, written by keep()
  bool record_written_ = false;                    // by this run: removed with the partial
  bool fresh_ = false;                             // open()'s `fresh`
  bool anonymous_ = false;  // no name yet (O_TMPFILE); partial_name_ is what it would take
  bool linked_ = false;     // published by a link, its inode not yet synced
};

}  // namespace ft::client
