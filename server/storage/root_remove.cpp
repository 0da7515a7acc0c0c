// DELETE's change on disk (docs/protocol.md, section 5.7), beside the other
// primitives of root_fs.hpp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "server/storage/root_fs.hpp"

namespace ft::server {

int remove_name(int root, const std::vector<std::string>& components, Entry& removed) {
  if (components.empty()) return EINVAL;  // the root is never removed
  Fd parent;
  // No symbolic link on the way (ELOOP): a removal lands where its path
  // says, never in a directory a link leads to.
  if (int err = open_existing_parent(root, components, parent)) return err;
  const std::string& name = components.back();
  struct stat st;
  if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  removed = entry_from_stat(name, st);
  // unlinkat never follows a link at the name: a link is removed itself.
  // Without AT_REMOVEDIR a directory swapped in since the stat gives
  // EISDIR; with it, rmdir refuses anything but an empty directory, so a
  // file swapped in gives ENOTDIR: nothing but what was seen is removed.
  const int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
  if (::unlinkat(parent.get(), name.c_str(), flags) != 0) {
    // Linux gives ENOTEMPTY, some file systems EEXIST, for a directory
    // that holds something.
    return errno == EEXIST ? ENOTEMPTY : errno;
  }
  // The OK promises the name is gone for good, power cut or not.
  if (::fsync(parent.get()) != 0) return errno;
  return 0;
}

}  // namespace ft::server
