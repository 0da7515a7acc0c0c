#include "client/local/source_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "common/os/mtime.hpp"
#include "common/os/sparse.hpp"

namespace ft::client {
namespace {

constexpr const char* kShortMessage = "the file ended early (it shrank)";

}  // namespace

std::optional<SourceFile> SourceFile::open(const std::string& path, std::string& why) {
  return open_file(AT_FDCWD, path, 0, why);
}

std::optional<SourceFile> SourceFile::open_at(int dir_fd, const std::string& name,
                                              std::string& why) {
  return open_file(dir_fd, name, O_NOFOLLOW, why);
}

std::optional<SourceFile> SourceFile::open_file(int dir_fd, const std::string& name, int flags,
                                                std::string& why) {
  // O_NONBLOCK keeps a FIFO from blocking the open; it has no effect on the
  // regular files that pass the check below.
  int fd;
  do {
    fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  SourceFile file;
  file.fd_.reset(fd);  // closed by the destructor on every early return below
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    why = "is a directory (use -r to send directory trees)";
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return std::nullopt;
  }
  file.size_ = static_cast<std::uint64_t>(st.st_size);
  file.mode_ = st.st_mode & 07777;
  file.mtime_ns_ = mtime_ns_of(st);
  file.device_ = static_cast<std::uint64_t>(st.st_dev);
  file.inode_ = static_cast<std::uint64_t>(st.st_ino);
  file.opened_ = st;
  return file;
}

bool SourceFile::read_at(std::uint64_t offset, std::span<std::uint8_t> out,
                         std::string& why) const {
  const int err = read_exact_at(fd_.get(), out.data(), out.size(), offset);
  if (err == ENODATA) {
    why = kShortMessage;
  } else if (err != 0) {
    why = std::strerror(err);
  }
  return err == 0;
}

SourceFile::Check SourceFile::check_unchanged(std::string& why) const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) {
    why = std::strerror(errno);
    return Check::kFailed;
  }
  if (!unchanged_since(opened_, st)) return Check::kChanged;
  return Check::kUnchanged;
}

bool SourceFile::data_range(std::uint64_t offset, std::uint64_t& start, std::uint64_t& end,
                            std::string& why) {
  if (!data_ranges_) data_ranges_.emplace(sparse());
  if (int err = data_ranges_->next(fd_.get(), offset, size_, start, end)) {
    why = std::strerror(err);
    return false;
  }
  return true;
}

}  // namespace ft::client
