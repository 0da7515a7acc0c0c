#include "client/transfer/tree_archive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "client/net/session.hpp"
#include "common/os/fd.hpp"

namespace ft::client {
namespace {

// The attributes the plan carries, of the file `path` (not followed).
bool wanted_xattrs(const ArchivePlan& plan, const std::string& path, std::vector<Xattr>& out,
                   std::string& why) {
  out.clear();
  if (!plan.xattrs && !plan.acls) return true;
  std::vector<Xattr> all;
  const int err = read_xattrs(path, false, SIZE_MAX / 2, all);
  if (err != 0) {
    why = std::string("cannot read extended attributes: ") + std::strerror(err);
    return false;
  }
  for (Xattr& x : all) {
    if (is_acl_xattr(x.name) ? plan.acls : plan.xattrs) out.push_back(std::move(x));
  }
  if (xattr_block_size(out) > limits::kMaxXattrBlockBytes) {
    why = "extended attributes larger than " + std::to_string(limits::kMaxXattrBlockBytes) +
          " bytes in all (the protocol's limit)";
    return false;
  }
  return true;
}

}  // namespace

std::optional<ArchivePlan> plan_upload(const ArchiveOptions& options, const Session& session,
                                       std::string& why) {
  ArchivePlan plan;
  const bool archive = session.archive_agreed();
  plan.verbatim_links = archive;
  plan.hard_links = archive;
  if ((options.xattrs || options.acls) && !archive) {
    why =
        "the server cannot store extended attributes or ACLs (no ARCHIVE capability): -X and -A "
        "need a newer ftserve";
    return std::nullopt;
  }
  if ((options.owner || options.group) && !session.owners_agreed()) {
    why =
        "the server does not set owners for this connection (no OWNERS capability: it does not "
        "run as root, or this identity lacks the owner right; docs/server.md)";
    return std::nullopt;
  }
  plan.owner = options.owner || (options.archive && session.owners_agreed());
  plan.group = options.group || (options.archive && session.owners_agreed());
  plan.xattrs = options.xattrs;
  plan.acls = options.acls;
  plan.exact_mode = options.archive && archive;
  return plan;
}

ArchivePlan plan_download(const ArchiveOptions& options, const Session& session) {
  ArchivePlan plan;
  const bool archive = session.archive_agreed();
  const bool root = ::geteuid() == 0;
  plan.verbatim_links = archive;
  plan.hard_links = archive;
  plan.meta = archive;
  // The receiver is this process: owners only as root (chown needs it).
  plan.owner = archive && root && (options.owner || options.archive);
  plan.group = archive && root && (options.group || options.archive);
  plan.xattrs = archive && options.xattrs;
  plan.acls = archive && options.acls;
  plan.exact_mode = archive && options.archive;
  return plan;
}

std::optional<AttrsMsg> upload_attrs(const ArchivePlan& plan, int dir_fd, const std::string& name,
                                     const struct stat& st, const std::string& remote,
                                     OwnerNames& names, std::string& why) {
  AttrsMsg m;
  m.path = remote;
  const bool link = S_ISLNK(st.st_mode);
  if (plan.owner) {
    m.fields |= kAttrsOwner;
    m.uid = st.st_uid;
    m.user = names.user(st.st_uid);
  }
  if (plan.group) {
    m.fields |= kAttrsGroup;
    m.gid = st.st_gid;
    m.group = names.group(st.st_gid);
  }
  if (!link) {
    if (plan.exact_mode) {
      m.fields |= kAttrsMode;
      m.mode = st.st_mode & 07777;
    }
    if (plan.xattrs) m.fields |= kAttrsXattrs;
    if (plan.acls) m.fields |= kAttrsAcls;
    const std::string path = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
    if (!wanted_xattrs(plan, path, m.xattrs, why)) return std::nullopt;
  }
  if (m.fields == 0) return std::nullopt;
  return m;
}

bool apply_entry_meta(const ArchivePlan& plan, int dir_fd, const std::string& name,
                      const Entry& entry, OwnerNames& names, std::string& why) {
  if (!plan.attrs()) return true;
  FileAttrs change;
  change.owner = plan.owner;
  change.group = plan.group;
  change.uid = names.uid_for(entry.meta.user, entry.meta.uid);
  change.gid = names.gid_for(entry.meta.group, entry.meta.gid);
  // As root the set-id and sticky bits come too, after the chown that
  // would clear them; the 0777 bits are already exact.
  change.mode = plan.owner && entry.type != EntryType::kSymlink;
  change.mode_bits = entry.mode;
  change.xattrs = plan.xattrs && entry.type != EntryType::kSymlink;
  change.acls = plan.acls && entry.type != EntryType::kSymlink;
  change.list = entry.meta.xattrs;
  if (!change.owner && !change.group && !change.mode && !change.xattrs && !change.acls) return true;
  Fd fd(::openat(dir_fd, name.empty() ? "." : name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  int err = fd ? apply_file_attrs(fd.get(), change) : errno;
  if (err != 0) {
    why = std::string("cannot set owner, mode or attributes: ") + std::strerror(err);
    return false;
  }
  return true;
}

bool make_local_hardlink(const std::string& existing, int dir_fd, const std::string& name,
                         std::string& why) {
  struct stat first {
  }, there{};
  if (::stat(existing.c_str(), &first) == 0 &&
      ::fstatat(dir_fd, name.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 &&
      first.st_dev == there.st_dev && first.st_ino == there.st_ino) {
    return true;  // already that file (rename would do nothing and keep the temporary name)
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string temp = ".ft-link." + std::to_string(rng());
  if (::linkat(AT_FDCWD, existing.c_str(), dir_fd, temp.c_str(), 0) != 0) {
    why = std::string("cannot make the hard link: ") + std::strerror(errno);
    return false;
  }
  if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    why = std::string("cannot rename the hard link into place: ") + std::strerror(errno);
    ::unlinkat(dir_fd, temp.c_str(), 0);
    return false;
  }
  return true;
}

}  // namespace ft::client
