#pragma once
// The local destination directory of a download: created like `mkdir -p`
// if missing, then held open so every file lands relative to the same
// directory whatever happens to its path meanwhile.
#include <optional>
#include <string>
#include <utility>

#include "common/os/fd.hpp"

namespace ft::client {

class LocalDirectory {
 public:
  /// Creates `path` and its missing parents (mode 0777 less the umask),
  /// then opens it. On failure returns nullopt and sets `why`.
  static std::optional<LocalDirectory> open_or_create(const std::string& path, std::string& why);

  int fd() const { return fd_.get(); }

 private:
  explicit LocalDirectory(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

/// True if `path` names an existing directory (following symlinks).
bool is_existing_directory(const std::string& path);

}  // namespace ft::client
