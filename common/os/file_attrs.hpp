#pragma once
// Owners, groups, exact modes and extended attributes of one file (the
// ARCHIVE capability, docs/protocol.md section 5.9): read from a file and
// applied to one, for ftserve (ATTRS, LIST with META) and for ftget -a alike.
// Blocking: ftserve calls these on its thread pool only.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ft {

/// One extended attribute ("user.x", "system.posix_acl_access"); the value
/// is any bytes.
struct Xattr {
  std::string name;
  std::string value;
  friend bool operator==(const Xattr&, const Xattr&) = default;
};

/// True if `name` is an ACL's attribute (system.posix_acl_access/_default):
/// POSIX ACLs travel as these, so libacl is never needed.
bool is_acl_xattr(std::string_view name);

/// The attributes of `path`, sorted by name. `follow`: the last component
/// is followed (a /proc/self/fd magic link to an O_PATH descriptor), else
/// not (a link's own). 0, or an errno value: E2BIG when they take more
/// than `max_bytes` encoded (4 bytes, name and value each).
int read_xattrs(const std::string& path, bool follow, std::size_t max_bytes,
                std::vector<Xattr>& out);

/// The attributes of `name` in the directory `dir` itself (a link's own,
/// never followed), as read_xattrs(). Through listxattrat(2) and
/// getxattrat(2) where the kernel has them (Linux 6.13), else through the
/// /proc/self/fd path of `dir`.
int read_xattrs_at(int dir, const char* name, std::size_t max_bytes, std::vector<Xattr>& out);

/// User and group names by number and numbers by name, each looked up once.
class OwnerNames {
 public:
  /// The name of `uid` / `gid`, empty when it has none here.
  const std::string& user(std::uint32_t uid);
  const std::string& group(std::uint32_t gid);
  /// rsync's rule: the id of `name` here if it has one, else `fallback`.
  std::uint32_t uid_for(const std::string& name, std::uint32_t fallback);
  std::uint32_t gid_for(const std::string& name, std::uint32_t fallback);

 private:
  std::unordered_map<std::uint32_t, std::string> users_, groups_;
  std::unordered_map<std::string, std::uint32_t> uids_, gids_;
};

/// What to change of one file.
struct FileAttrs {
  bool owner = false;  // set uid
  bool group = false;  // set gid
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  bool mode = false;  // set the mode's 07777 bits as they are
  std::uint32_t mode_bits = 0;
  bool xattrs = false;  // make the attributes but ACLs exactly `list`
  bool acls = false;    // make the ACL attributes exactly those of `list`
  std::vector<Xattr> list;
};

/// Applies `attrs` to the file behind `fd` (an O_PATH descriptor, opened
/// without following a link): owner and group first (chown clears set-id
/// bits), then the mode, then the attributes. A symbolic link gets its
/// owner only. 0 or an errno value.
int apply_file_attrs(int fd, const FileAttrs& attrs);

}  // namespace ft
