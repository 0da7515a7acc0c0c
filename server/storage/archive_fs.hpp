#pragma once
// What a faithful copy of a tree needs of the served root beyond files,
// directories and links (ARCHIVE, docs/protocol.md section 5.9): the
// metadata an entry carries with META, hard links and ATTRS. Blocking:
// thread pool only, like root_fs.hpp. Functions return 0 or an errno value.
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/os/file_attrs.hpp"
#include "common/wire/archive_messages.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {

/// Fills `meta` for `name` in the directory `dir` (described by `st`, not
/// followed): owner and group, the hard-link key of a regular file with
/// several links, and the extended attributes (none when they take more
/// than limits::kMaxXattrBlockBytes: the limit is documented).
void read_entry_meta(int dir, const char* name, const struct stat& st, OwnerNames& names,
                     EntryMeta& meta);

/// Makes `components` another name of the regular file `existing` (both
/// below `root`, reached without links; the new name replaces a file or
/// link there atomically, under `policy`). A name that already is that
/// file is success. EPERM when `existing` is not a regular file.
int make_hardlink(int root, const std::vector<std::string>& components,
                  const std::vector<std::string>& existing, NamePolicy policy);

/// Applies ATTRS to `components` itself (never through a link). Owners
/// map by name first, else by number (rsync's rule). The mode's 0777 bits
/// apply exactly (the client asked for them); set-id and sticky bits only
/// with `owners` (the owner is set too).
int apply_attrs(int root, const std::vector<std::string>& components, const AttrsMsg& attrs,
                bool owners);

}  // namespace ft::server
