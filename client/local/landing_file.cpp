#include "client/local/landing_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>

#include "common/base/hex.hpp"
#include "common/base/limits.hpp"
#include "common/crypto/checksum.hpp"
#include "common/os/anonymous_file.hpp"
#include "common/os/exact_io.hpp"
#include "common/os/mtime.hpp"
#include "common/os/sparse.hpp"

namespace ft::client {
namespace {

// The names start with ".ft-part" so that they are hidden and recognisable.
// The character after that tells the four forms apart ('.' or '~' for the
// data, '-' for the sidecar), so no name of one form equals a name of
// another whatever the final name is.
constexpr std::string_view kPartialPrefix = ".ft-part.";
constexpr std::string_view kPartialHashedPrefix = ".ft-part~";
constexpr std::string_view kRecordPrefix = ".ft-part-meta.";
constexpr std::string_view kRecordHashedPrefix = ".ft-part-meta~";
// A record being written, before it is renamed over the real one.
constexpr std::string_view kRecordNewPrefix = ".ft-part-meta-new.";
constexpr std::string_view kRecordMagic = "ft-partial 1";
// From this size on a download's record is written when it starts (a
// crash keeps it resumable); a smaller one's only if it is kept.
constexpr std::uint64_t kEagerRecordFrom = 1024 * 1024;
// A sidecar is a few short lines and one path.
constexpr std::size_t kMaxRecordBytes = limits::kMaxPathBytes + 256;

bool fits_direct(const std::string& name) {
  return kRecordPrefix.size() + name.size() <= limits::kMaxComponentBytes;
}

std::string hashed(const std::string& name) {
  return hex_of_u64(
      hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(name.data()), name.size())));
}

std::string step_error(const char* step, int err) {
  return std::string(step) + ": " + std::strerror(err);
}

int open_retrying(int dir_fd, const std::string& name, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::openat(dir_fd, name.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

bool write_all(int fd, const std::uint8_t* data, std::size_t size, std::uint64_t offset,
               std::string& why) {
  const int err = write_exact_at(fd, data, size, offset);
  if (err != 0) why = step_error("write", err);
  return err == 0;
}

// "key value" lines after the magic line; the path comes last and may hold
// spaces (never a newline: the path rules forbid control characters).
std::optional<PartialRecord> parse_record(std::string_view text) {
  auto next_line = [&text]() -> std::optional<std::string_view> {
    auto end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    return line;
  };
  auto value_of = [](std::optional<std::string_view> line,
                     std::string_view key) -> std::optional<std::string_view> {
    if (!line || !line->starts_with(key) || line->size() < key.size() + 1 ||
        (*line)[key.size()] != ' ') {
      return std::nullopt;
    }
    return line->substr(key.size() + 1);
  };
  auto number = [](std::optional<std::string_view> value, auto& out) {
    if (!value) return false;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), out);
    return ec == std::errc() && end == value->data() + value->size();
  };
  PartialRecord record;
  if (next_line() != kRecordMagic) return std::nullopt;
  if (!number(value_of(next_line(), "size"), record.size)) return std::nullopt;
  if (!number(value_of(next_line(), "mtime"), record.mtime_ns)) return std::nullopt;
  auto path = value_of(next_line(), "path");
  if (!path || !text.empty()) return std::nullopt;
  record.remote_path = std::string(*path);
  return record;
}

}  // namespace

std::string partial_name_for(const std::string& name) {
  if (fits_direct(name)) return std::string(kPartialPrefix) + name;
  return std::string(kPartialHashedPrefix) + hashed(name);
}

std::string partial_record_name_for(const std::string& name) {
  if (fits_direct(name)) return std::string(kRecordPrefix) + name;
  return std::string(kRecordHashedPrefix) + hashed(name);
}

std::optional<LandingFile> LandingFile::open(int dir_fd, const std::string& name, std::string& why,
                                             bool fresh) {
  const std::string partial = partial_name_for(name);
  if (fresh) {
    // In a directory this run made there is nothing to resume: the file
    // needs no name until it is published (or kept), nor a lock, as no
    // other ftget can find it (common/os/anonymous_file.hpp).
    Fd unnamed;
    const int err = create_anonymous_file(dir_fd, 0600, unnamed);
    if (err == 0) {
      LandingFile file;
      file.fd_ = std::move(unnamed);
      file.dir_fd_ = dir_fd;
      file.anonymous_ = true;
      file.partial_name_ = partial;
      file.record_name_ = partial_record_name_for(name);
      file.final_name_ = name;
      file.fresh_ = true;
      return file;
    }
    if (err != EOPNOTSUPP) {
      why = "cannot create a file in the directory: " + std::string(std::strerror(err));
      return std::nullopt;
    }
  }
  // O_NOFOLLOW refuses a symbolic link planted at the partial name;
  // O_NONBLOCK keeps a FIFO there from blocking (the type check refuses it).
  int fd = open_retrying(dir_fd, partial,
                         O_CREAT | O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    const int err = errno;
    why = err == ELOOP ? "refusing the partial file " + partial + ": it is a symbolic link"
                       : "cannot open the partial file " + partial + ": " + std::strerror(err);
    return std::nullopt;
  }
  LandingFile file;
  file.fd_.reset(fd);  // closed by the destructor on every early return below
  file.dir_fd_ = dir_fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = step_error("fstat", errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
    why = "refusing the partial file " + partial +
          (S_ISREG(st.st_mode) ? ": it has other hard links" : ": not a regular file");
    return std::nullopt;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    why = errno == EWOULDBLOCK ? "another ftget is downloading into " + partial
                               : step_error("cannot lock the partial file", errno);
    return std::nullopt;
  }
  // Between our open and our lock another ftget may have committed this
  // very file under its final name: then the name no longer leads to it.
  struct stat now {};
  if (::fstatat(dir_fd, partial.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
      now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
    why = "the partial file " + partial + " was taken by another ftget";
    return std::nullopt;
  }
  file.length_at_open_ = static_cast<std::uint64_t>(st.st_size);
  file.partial_name_ = partial;
  file.record_name_ = partial_record_name_for(name);
  file.final_name_ = name;
  file.fresh_ = fresh;
  return file;
}

LandingFile::LandingFile(LandingFile&& other) noexcept
    : dir_fd_(other.dir_fd_),
      fd_(std::move(other.fd_)),
      length_at_open_(other.length_at_open_),
      partial_name_(std::exchange(other.partial_name_, {})),
      record_name_(std::move(other.record_name_)),
      final_name_(std::move(other.final_name_)),
      unwritten_record_(std::move(other.unwritten_record_)),
      record_written_(other.record_written_),
      fresh_(other.fresh_),
      anonymous_(other.anonymous_),
      linked_(other.linked_) {}

LandingFile& LandingFile::operator=(LandingFile&& other) noexcept {
  if (this != &other) {
    discard();
    dir_fd_ = other.dir_fd_;
    fd_ = std::move(other.fd_);
    length_at_open_ = other.length_at_open_;
    partial_name_ = std::exchange(other.partial_name_, {});
    record_name_ = std::move(other.record_name_);
    final_name_ = std::move(other.final_name_);
    unwritten_record_ = std::move(other.unwritten_record_);
    record_written_ = other.record_written_;
    fresh_ = other.fresh_;
    anonymous_ = other.anonymous_;
    linked_ = other.linked_;
  }
  return *this;
}

LandingFile::~LandingFile() {
  discard();
}

std::optional<PartialRecord> LandingFile::record() const {
  Fd fd(open_retrying(dir_fd_, record_name_, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  std::string text(kMaxRecordBytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  fd.reset();
  if (got > kMaxRecordBytes) return std::nullopt;
  text.resize(got);
  return parse_record(text);
}

bool LandingFile::start_over(const PartialRecord& record, std::string& why) {
  // A big file is resumable from its first bytes: it takes its partial
  // name (and lock) now, its record below.
  if (anonymous_ && record.size >= kEagerRecordFrom && !take_partial_name(why)) return false;
  // Created empty and locked by us since (open()): nothing to empty.
  if (length_at_open_ > 0 && ::ftruncate(fd_.get(), 0) != 0) {
    why = step_error("cannot empty the partial file", errno);
    return false;
  }
  if (record.size < kEagerRecordFrom) {
    // A small file is written whole in a moment: its record waits for
    // keep(), saving most of a small file's directory operations. A link
    // planted at the record's name is refused all the same (in a directory
    // this run made, nothing was planted before it), and a stale record
    // beside kept data goes now, so none names the new bytes.
    if (!fresh_) {
      if (auto why_not = planted_record_link()) {
        why = *why_not;
        return false;
      }
    }
    if (length_at_open_ > 0) ::unlinkat(dir_fd_, record_name_.c_str(), 0);
    unwritten_record_ = record;
    return true;
  }
  unwritten_record_.reset();
  return write_record(record, why);
}

std::optional<std::string> LandingFile::planted_record_link() const {
  struct stat planted {};
  if (::fstatat(dir_fd_, record_name_.c_str(), &planted, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(planted.st_mode)) {
    return "refusing the partial file's record " + record_name_ + ": it is a symbolic link";
  }
  return std::nullopt;
}

bool LandingFile::write_record(const PartialRecord& record, std::string& why) {
  const std::string text = std::string(kRecordMagic) + "\nsize " + std::to_string(record.size) +
                           "\nmtime " + std::to_string(record.mtime_ns) + "\npath " +
                           record.remote_path + "\n";
  if (auto why_not = planted_record_link()) {
    why = *why_not;
    return false;
  }
  // Written under a fresh name (O_EXCL) and renamed over the record: a hard
  // link or a file planted at the record's name is replaced, never written
  // through (O_TRUNC on it would have emptied the link's target).
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const std::string fresh = std::string(kRecordNewPrefix) + hex_of_u64(random());
  Fd fd(open_retrying(dir_fd_, fresh,
                      O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!fd) {
    why = step_error("cannot write the partial file's record", errno);
    return false;
  }
  // Not synced here (an fsync per downloaded file was most of a restore's
  // time): keep() and the batch's sync make it durable with the data, and a
  // record lost to a crash only makes the next run start the file over.
  bool ok =
      write_all(fd.get(), reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), 0, why);
  if (ok && ::renameat(dir_fd_, fresh.c_str(), dir_fd_, record_name_.c_str()) != 0) {
    why = step_error("cannot write the partial file's record", errno);
    ok = false;
  }
  if (!ok) ::unlinkat(dir_fd_, fresh.c_str(), 0);
  record_written_ = ok;
  return ok;
}

bool LandingFile::read_at(std::uint64_t offset, std::span<std::uint8_t> out,
                          std::string& why) const {
  const int err = read_exact_at(fd_.get(), out.data(), out.size(), offset);
  if (err == ENODATA) {
    why = "the partial file is shorter than expected";
  } else if (err != 0) {
    why = step_error("read of the partial file", err);
  }
  return err == 0;
}

bool LandingFile::write_at(std::uint64_t offset, ByteSpan bytes, std::string& why) {
  return write_all(fd_.get(), bytes.data(), bytes.size(), offset, why);
}

bool LandingFile::write_hole(std::uint64_t offset, std::uint64_t length, std::string& why) {
  if (int err = ft::write_hole(fd_.get(), offset, length)) {
    why = step_error("cannot leave a hole", err);
    return false;
  }
  return true;
}

bool LandingFile::commit(std::uint32_t mode, std::int64_t mtime_ns, std::string& why) {
  if (!seal(mode, mtime_ns, why)) return false;
  if (::fsync(fd_.get()) != 0) {
    why = step_error("fsync", errno);
    discard();
    return false;
  }
  if (!publish(why)) return false;
  if (linked_) {
    // The link changed the file's own inode too (CommitBatch::flush).
    const bool synced = ::fsync(fd_.get()) == 0;
    const int err = errno;
    close_linked();
    if (!synced) {
      why = step_error("fsync after the link", err);
      return false;
    }
  }
  if (::fsync(dir_fd_) != 0) {
    // The file is in place and verified; only its durability is in doubt.
    why = step_error("fsync of the directory", errno);
    return false;
  }
  return true;
}

bool LandingFile::seal(std::uint32_t mode, std::int64_t mtime_ns, std::string& why) {
  timespec times[2];
  mtime_times(mtime_ns, times);
  const char* step = nullptr;
  if (::fchmod(fd_.get(), mode & 0777) != 0) {
    step = "cannot set the mode";
  } else if (::futimens(fd_.get(), times) != 0) {
    step = "cannot set the modification time";
  }
  if (step != nullptr) {
    why = step_error(step, errno);
    discard();
    return false;
  }
  return true;
}

bool LandingFile::publish(std::string& why) {
  const bool was_unnamed = anonymous_;
  if (anonymous_) {
    const int err = link_anonymous_file(fd_.get(), dir_fd_, final_name_);
    if (err == 0) {
      partial_name_.clear();  // it is the final file now
      anonymous_ = false;
      linked_ = true;  // open until the caller synced its inode
      return true;
    }
    // Something is at the final name after all (another ftget?): replace
    // it as a rename does, through the partial name.
    if (err != EEXIST || !take_partial_name(why)) {
      if (why.empty()) why = step_error("cannot link into place", err);
      discard();
      return false;
    }
  }
  if (::renameat(dir_fd_, partial_name_.c_str(), dir_fd_, final_name_.c_str()) != 0) {
    why = step_error("cannot rename into place", errno);
    discard();
    return false;
  }
  partial_name_.clear();  // it is the final file now
  if (was_unnamed) {
    linked_ = true;  // named since the sync of its data: as after a link
  } else {
    fd_.reset();
  }
  if (record_written_ || length_at_open_ > 0) ::unlinkat(dir_fd_, record_name_.c_str(), 0);
  return true;
}

void LandingFile::keep() {
  if (fd_) {
    struct stat st {};
    if (::fstat(fd_.get(), &st) == 0 && st.st_size == 0) {
      // Nothing to resume from (the connection ended before any data, or
      // the server broke the protocol first): leave no hidden file behind.
      return discard();
    }
    // An unnamed file is kept under its partial name, as any other.
    std::string why_not;
    if (anonymous_ && !take_partial_name(why_not)) return discard();
    // Best effort: bytes lost to a crash before this are caught by the
    // whole-file hash of the run that resumes, which then starts over. The
    // record was not synced when written (start_over), or not written yet
    // (a small file): it is now.
    std::string why;
    if (unwritten_record_) write_record(*unwritten_record_, why);
    ::fsync(fd_.get());
    fd_.reset();
    Fd record(
        open_retrying(dir_fd_, record_name_, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0));
    if (record) ::fsync(record.get());
    ::fsync(dir_fd_);
  }
  partial_name_.clear();
}

void LandingFile::discard() {
  fd_.reset();
  linked_ = false;
  // An unnamed file has no name to remove (whatever is at its partial
  // name is not ours) and no record yet: closing it was all.
  if (!partial_name_.empty() && !anonymous_) {
    ::unlinkat(dir_fd_, partial_name_.c_str(), 0);
    ::unlinkat(dir_fd_, record_name_.c_str(), 0);
  }
  partial_name_.clear();
}

bool LandingFile::take_partial_name(std::string& why) {
  const int err = link_anonymous_file(fd_.get(), dir_fd_, partial_name_);
  if (err != 0) {
    why = err == EEXIST
              ? "the partial file " + partial_name_ + " appeared (another ftget?)"
              : "cannot name the partial file " + partial_name_ + ": " + std::strerror(err);
    return false;
  }
  anonymous_ = false;
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    why = step_error("cannot lock the partial file", errno);
    discard();
    return false;
  }
  return true;
}

void LandingFile::close_linked() {
  fd_.reset();
  linked_ = false;
}

}  // namespace ft::client
