#include "server/storage/partial_record.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "common/base/bytes.hpp"
#include "common/os/fd.hpp"

namespace ft::server {

int record_declared_size(int fd, std::uint64_t size) {
  std::array<std::uint8_t, 8> bytes{};
  store_be64(bytes.data(), size);
  return ::fsetxattr(fd, kDeclaredSizeAttribute, bytes.data(), bytes.size(), 0) == 0 ? 0 : errno;
}

std::optional<std::uint64_t> partial_declared_size(int dir, const std::string& name) {
  // O_NONBLOCK: a FIFO planted under the name must not hang the walk.
  Fd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::array<std::uint8_t, 8> bytes{};
  if (::fgetxattr(fd.get(), kDeclaredSizeAttribute, bytes.data(), bytes.size()) !=
      static_cast<ssize_t>(bytes.size())) {
    return std::nullopt;
  }
  return load_be64(bytes.data());
}

}  // namespace ft::server
