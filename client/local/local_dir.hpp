#pragma once
// The local destination directory of a download: created like `mkdir -p`
// if missing, then held open so every file lands relative to the same
// directory whatever happens to its path meanwhile.
#include <optional>
#include <string>

namespace ft::client {

class LocalDirectory {
 public:
  /// Creates `path` and its missing parents (mode 0777 less the umask),
  /// then opens it. On failure returns nullopt and sets `why`.
  static std::optional<LocalDirectory> open_or_create(const std::string& path, std::string& why);

  LocalDirectory(LocalDirectory&& other) noexcept;
  LocalDirectory& operator=(LocalDirectory&& other) noexcept;
  LocalDirectory(const LocalDirectory&) = delete;
  LocalDirectory& operator=(const LocalDirectory&) = delete;
  ~LocalDirectory();

  int fd() const { return fd_; }

 private:
  explicit LocalDirectory(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// True if `path` names an existing directory (following symlinks).
bool is_existing_directory(const std::string& path);

}  // namespace ft::client
