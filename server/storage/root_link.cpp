// LINK's change on disk (docs/protocol.md, section 5.8), beside the other
// primitives of root_fs.hpp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "server/storage/root_fs.hpp"

namespace ft::server {

int link_reference(int root, const std::vector<std::string>& reference,
                   const std::vector<std::string>& path, const LinkMsg& expect, NamePolicy policy,
                   HashCache& hashes) {
  if (reference.empty() || path.empty()) return EINVAL;
  Fd from;
  if (int err = open_existing_parent(root, reference, from)) return err;
  const char* from_name = reference.back().c_str();
  struct stat st;
  if (::fstatat(from.get(), from_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  // The server decides: what the client saw in a listing may have changed.
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != expect.size ||
      (st.st_mode & 07777) != file_mode(expect.mode)) {
    return kReferenceChanged;
  }
  if ((expect.link_flags & kLinkCheckHash) != 0) {
    Hash128 hash;
    if (hashes.hash_file(from.get(), from_name, hash) != 0 || hash != expect.content_hash) {
      return kReferenceChanged;
    }
  } else if (mtime_ns_of(st) != expect.mtime_ns) {
    return kReferenceChanged;
  }
  Fd parent;
  int err = open_existing_parent(root, path, parent);
  if (err != 0 && err != ENOENT) return err;
  const std::string& name = path.back();
  // Decided before anything is created, not even a missing parent.
  if (int refused = check_name_policy(err == ENOENT ? -1 : parent.get(), name, policy)) {
    return refused;
  }
  if (err == ENOENT && (err = open_parent_creating(root, path, parent)) != 0) return err;
  // linkat without AT_SYMLINK_FOLLOW links the name itself; it was a
  // regular file a moment ago, and the hidden name then the rename make
  // the new name appear whole, replacing a file or link at once.
  const std::string temp = temporary_name();
  if (::linkat(from.get(), from_name, parent.get(), temp.c_str(), 0) != 0) return errno;
  // Without overwrite, a name that appeared since the check is kept.
  err = rename_in(parent.get(), temp, name, !policy.overwrite);
  if (err != 0) {
    ::unlinkat(parent.get(), temp.c_str(), 0);
    return err;
  }
  if (::fsync(parent.get()) != 0) return errno;
  return 0;
}

}  // namespace ft::server
