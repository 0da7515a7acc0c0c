#include "landing_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ft::client {
namespace {

constexpr const char* kTempPrefix = ".ft-part.";
// Keeps ".ft-part.<name>.<16 hex>" within NAME_MAX for any 255-byte name.
constexpr std::size_t kMaxNameInTemp = 200;
// EEXIST on a fresh random name means someone else is guessing ours;
// a few attempts are plenty.
constexpr int kCreateAttempts = 8;

std::string random_suffix() {
  std::uint8_t bytes[8] = {};
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Without getrandom the pid and a counter still make the name unique
      // enough for O_EXCL, which is what guarantees safety.
      static unsigned counter = 0;
      std::uint64_t fallback = (std::uint64_t(::getpid()) << 32) | ++counter;
      std::memcpy(bytes, &fallback, sizeof bytes);
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string step_error(const char* step, int err) {
  return std::string(step) + ": " + std::strerror(err);
}

}  // namespace

std::optional<LandingFile> LandingFile::create(int dir_fd, const std::string& name,
                                               std::string& why) {
  LandingFile file;
  file.dir_fd_ = dir_fd;
  file.final_name_ = name;
  const std::string stem = kTempPrefix + name.substr(0, kMaxNameInTemp) + ".";
  int err = EEXIST;
  for (int attempt = 0; attempt < kCreateAttempts && err == EEXIST; ++attempt) {
    std::string temp = stem + random_suffix();
    int fd;
    do {
      fd = ::openat(dir_fd, temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      file.fd_ = fd;
      file.temp_name_ = std::move(temp);
      return file;
    }
    err = errno;
  }
  why = step_error("cannot create a temporary file", err);
  return std::nullopt;
}

LandingFile::LandingFile(LandingFile&& other) noexcept
    : dir_fd_(other.dir_fd_),
      fd_(std::exchange(other.fd_, -1)),
      temp_name_(std::exchange(other.temp_name_, {})),
      final_name_(std::move(other.final_name_)) {}

LandingFile& LandingFile::operator=(LandingFile&& other) noexcept {
  if (this != &other) {
    discard();
    dir_fd_ = other.dir_fd_;
    fd_ = std::exchange(other.fd_, -1);
    temp_name_ = std::exchange(other.temp_name_, {});
    final_name_ = std::move(other.final_name_);
  }
  return *this;
}

LandingFile::~LandingFile() {
  discard();
}

void LandingFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_name_.empty()) ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
  temp_name_.clear();
}

bool LandingFile::write_at(std::uint64_t offset, ByteSpan bytes, std::string& why) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      why = step_error("write", errno);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool LandingFile::commit(std::uint32_t mode, std::int64_t mtime_ns, std::string& why) {
  // Floor division keeps times before 1970 valid (tv_nsec in 0..999999999).
  std::int64_t sec = mtime_ns / 1'000'000'000;
  std::int64_t nsec = mtime_ns % 1'000'000'000;
  if (nsec < 0) {
    nsec += 1'000'000'000;
    sec -= 1;
  }
  const timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(sec), static_cast<long>(nsec)}};
  const char* step = nullptr;
  if (::fchmod(fd_, mode & 0777) != 0) {
    step = "cannot set the mode";
  } else if (::futimens(fd_, times) != 0) {
    step = "cannot set the modification time";
  } else if (::fsync(fd_) != 0) {
    step = "fsync";
  } else if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, final_name_.c_str()) != 0) {
    step = "cannot rename into place";
  }
  if (step != nullptr) {
    why = step_error(step, errno);
    discard();
    return false;
  }
  temp_name_.clear();  // it is the final file now
  ::close(fd_);
  fd_ = -1;
  if (::fsync(dir_fd_) != 0) {
    // The file is in place and verified; only its durability is in doubt.
    why = step_error("fsync of the directory", errno);
    return false;
  }
  return true;
}

}  // namespace ft::client
