#include "server/storage/archive_fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/crypto/checksum.hpp"
#include "common/os/fd.hpp"

namespace ft::server {

void read_entry_meta(int dir, const char* name, const struct stat& st, OwnerNames& names,
                     EntryMeta& meta) {
  meta.uid = st.st_uid;
  meta.gid = st.st_gid;
  meta.user = names.user(st.st_uid);
  meta.group = names.group(st.st_gid);
  meta.link_key = 0;
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    const std::uint64_t id[2] = {static_cast<std::uint64_t>(st.st_dev),
                                 static_cast<std::uint64_t>(st.st_ino)};
    meta.link_key = hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(id), sizeof id)) | 1;
  }
  // Through the directory's descriptor: no lookup from the root, and the
  // name itself is not followed (a link's own attributes).
  if (read_xattrs_at(dir, name, limits::kMaxXattrBlockBytes, meta.xattrs) != 0) meta.xattrs.clear();
}

int make_hardlink(int root, const std::vector<std::string>& components,
                  const std::vector<std::string>& existing, NamePolicy policy) {
  Fd from;
  if (int err = open_existing_parent(root, existing, from)) return err;
  struct stat source;
  if (::fstatat(from.get(), existing.back().c_str(), &source, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno;
  }
  if (!S_ISREG(source.st_mode)) return EPERM;
  Fd parent;
  int err = open_existing_parent(root, components, parent);
  if (err != 0 && err != ENOENT) return err;
  const std::string& name = components.back();
  struct stat there;
  if (err == 0 && ::fstatat(parent.get(), name.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 &&
      there.st_dev == source.st_dev && there.st_ino == source.st_ino) {
    return 0;  // already that file
  }
  if (int refused = check_name_policy(err == ENOENT ? -1 : parent.get(), name, policy)) {
    return refused;
  }
  if (err == ENOENT && (err = open_parent_creating(root, components, parent)) != 0) return err;
  // Linked under a hidden name, then renamed over the name: atomic.
  const std::string temp = temporary_name();
  if (::linkat(from.get(), existing.back().c_str(), parent.get(), temp.c_str(), 0) != 0) {
    return errno;
  }
  err = rename_in(parent.get(), temp, name, !policy.overwrite);
  if (err != 0) {
    ::unlinkat(parent.get(), temp.c_str(), 0);
    return err;
  }
  return ::fsync(parent.get()) == 0 ? 0 : errno;
}

int apply_attrs(int root, const std::vector<std::string>& components, const AttrsMsg& attrs,
                bool owners) {
  // One O_PATH descriptor of the name itself: whatever replaces the name
  // meanwhile, every change lands on what was looked at, never through a
  // link.
  Fd parent;
  if (int err = open_existing_parent(root, components, parent)) return err;
  Fd target(::openat(parent.get(), components.back().c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!target) return errno;
  OwnerNames names;
  FileAttrs change;
  change.owner = (attrs.fields & kAttrsOwner) != 0;
  change.group = (attrs.fields & kAttrsGroup) != 0;
  if (change.owner) change.uid = names.uid_for(attrs.user, attrs.uid);
  if (change.group) change.gid = names.gid_for(attrs.group, attrs.gid);
  change.mode = (attrs.fields & kAttrsMode) != 0;
  change.mode_bits = attrs.mode & (owners ? 07777 : 0777);
  change.xattrs = (attrs.fields & kAttrsXattrs) != 0;
  change.acls = (attrs.fields & kAttrsAcls) != 0;
  change.list = attrs.xattrs;
  return apply_file_attrs(target.get(), change);
}

}  // namespace ft::server
