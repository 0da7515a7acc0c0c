#pragma once
// A downloaded file on its way to its final name: written to a hidden
// temporary file in the destination directory and renamed over the final
// name only once the caller verified every byte. Until commit() succeeds the
// final name is never touched, and the temporary file is removed on every
// other path (including destruction).
#include <cstdint>
#include <optional>
#include <string>

#include "bytes.hpp"

namespace ft::client {

class LandingFile {
 public:
  /// Creates ".ft-part.<name>.<random>" in the directory `dir_fd` (which
  /// the caller keeps open). On failure returns nullopt and sets `why`.
  static std::optional<LandingFile> create(int dir_fd, const std::string& name, std::string& why);

  LandingFile(LandingFile&& other) noexcept;
  LandingFile& operator=(LandingFile&& other) noexcept;
  LandingFile(const LandingFile&) = delete;
  LandingFile& operator=(const LandingFile&) = delete;
  ~LandingFile();

  /// Writes all of `bytes` at `offset`; false with `why` set on failure.
  bool write_at(std::uint64_t offset, ByteSpan bytes, std::string& why);
  /// Applies the mode's 0777 bits and the mtime, fsyncs, renames over the
  /// final name and fsyncs the directory. On failure the temporary file is
  /// removed and `why` says which step failed.
  bool commit(std::uint32_t mode, std::int64_t mtime_ns, std::string& why);
  /// Removes the temporary file (idempotent).
  void discard();

 private:
  LandingFile() = default;
  int dir_fd_ = -1;  // borrowed
  int fd_ = -1;
  std::string temp_name_;
  std::string final_name_;
};

}  // namespace ft::client
