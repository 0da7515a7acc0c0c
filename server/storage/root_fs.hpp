#pragma once
// Blocking file-system primitives confined beneath the served root. They are
// only ever called from libuv's thread pool, never on the loop thread. Every
// path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
// neither "..", an absolute symlink nor a magic link can lead outside. What
// a change is made in (the parent of a new file, directory or link, and an
// identity's sub-directory) is reached without following any symbolic link
// at all (RESOLVE_NO_SYMLINKS: ELOOP), so a change lands where its path says
// and a link's target is resolved from the directory its path names.
// Functions return 0 or an errno value.
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "common/os/fd.hpp"
#include "common/os/mtime.hpp"
#include "common/wire/messages.hpp"
#include "server/storage/hash_cache.hpp"

namespace ft::server {

/// What an identity may do to names beneath its root (docs/server.md,
/// "Rights"): bring a new name into being, and replace an existing one.
struct NamePolicy {
  bool create = true;
  bool overwrite = true;
};

/// Returned instead of an errno value when the NamePolicy forbids a change
/// (the request fails with FORBIDDEN). A name that exists and may not be
/// replaced gives EEXIST (EXISTS).
inline constexpr int kForbiddenByRights = -1;

/// How many times an open that failed with EAGAIN is tried again.
inline constexpr int kMaxOpenRetries = 64;

/// Calls `attempt` (an open: a descriptor, or -1 with errno set) until it
/// succeeds, again after EINTR, and again after EAGAIN at most
/// kMaxOpenRetries times. Returns 0 with the descriptor in `out`, or the
/// errno of the last failure: EAGAIN when the retries ran out. Every
/// openat2 of the server goes through it.
int retry_open(const std::function<long()>& attempt, Fd& out);

/// Opens `relative` (a path that passed the path rules, "" for the root
/// itself) beneath `root`.
int open_beneath(int root, const std::string& relative, int flags, Fd& out);

/// Opens `relative` beneath `dir` without following any symbolic link on
/// the way or at the end (ELOOP when there is one).
int open_beneath_without_links(int dir, const std::string& relative, int flags, Fd& out);

/// Opens (O_PATH) the directory `relative` beneath `root`, creating missing
/// components (mode 0755 less the umask) one at a time, following no link:
/// ELOOP when a component is a symbolic link. For identity sub-directories.
int open_directory_creating(int root, const std::string& relative, Fd& out);

/// Opens the directory that holds the last component of `components`,
/// creating missing directories (mode 0755) on the way; no symbolic link is
/// followed (ELOOP).
int open_parent_creating(int root, const std::vector<std::string>& components, Fd& dir_out);

/// Opens the directory that holds the last of `components` without creating
/// anything; ENOENT when a directory on the way is missing, ELOOP when one
/// is a symbolic link.
int open_existing_parent(int root, const std::vector<std::string>& components, Fd& dir_out);

/// Creates a new hidden temporary file (reserved prefix) in `dir`, with
/// `mode` (less the process umask).
int create_temp_file(int dir, std::string& name_out, Fd& file_out, mode_t mode = 0600);
/// Opens (or creates) a resumable upload's partial data `name` in `dir` and
/// hashes what it holds into `hash`; `offset` is how many bytes that is.
/// Data beyond `size` cannot be a prefix of the source and is dropped; a
/// name with other hard links is replaced, never written through. The file
/// is locked first (file_lock.hpp): EWOULDBLOCK when another upload, on
/// this server or another one of the same root, holds it.
int open_partial_data(int dir, const std::string& name, std::uint64_t size, Fd& file,
                      StreamHash128& hash, std::uint64_t& offset);

/// The process umask, read once at start-up (before any thread exists);
/// ftserve sets it from --umask first.
mode_t process_umask();
/// The permission bits a peer's file mode gets on disk: less the umask.
mode_t file_mode(std::uint32_t peer_mode);
/// The same for a directory, whose owner always keeps rwx.
mode_t directory_mode(std::uint32_t peer_mode);

/// Creates the directory `components` (and missing parents) unless it
/// exists, applies the permission bits (directory_mode) and, if given, the
/// mtime. Under `policy`: a missing directory needs create (else
/// kForbiddenByRights); an existing one gets its mode and mtime changed only
/// with overwrite, and is otherwise left as it is (success). The root
/// (`components` empty) is never changed: success. With `keep_existing` (an
/// identity's configured sub-directory) nothing is created or changed: an
/// existing directory is success, a missing one kForbiddenByRights.
int make_directory(int root, const std::vector<std::string>& components, std::uint32_t mode,
                   const std::int64_t* mtime_ns, NamePolicy policy = {},
                   bool keep_existing = false);

/// Creates (or atomically replaces a file or link with) a symbolic link to
/// `target` at `components` and sets the link's own mtime. The caller has
/// checked the target (inside the tree, or with ARCHIVE any target: reads
/// resolve beneath the root, so one that leaves it is never followed). Under `policy`: a new name
/// needs create, an existing one overwrite (EEXIST when only create is
/// allowed, and when a name appears before the link is renamed into place).
int make_symlink(int root, const std::vector<std::string>& components, const std::string& target,
                 std::int64_t mtime_ns, NamePolicy policy = {});

/// Removes the file, symbolic link or empty directory `components` (in
/// root_remove.cpp): no link is followed on the way (ELOOP) nor at the
/// name (a link is removed itself); a directory that holds anything gives
/// ENOTEMPTY. The parent directory is synced before it returns 0.
/// `removed` describes what was there.
int remove_name(int root, const std::vector<std::string>& components, Entry& removed);

/// Returned by link_reference when the reference is not the file the
/// client described (REFERENCE_CHANGED).
inline constexpr int kReferenceChanged = -2;

/// Makes `path` a hard link to the regular file `reference` (in
/// root_link.cpp; docs/protocol.md section 5.8) if the reference still
/// matches `expect` (size, mode less the umask, and mtime, or with
/// kLinkCheckHash the content hash from `hashes`): else
/// kReferenceChanged. Neither path is reached through a symbolic link
/// (ELOOP), nor is the reference followed. `path` obeys `policy` as a PUT
/// would (check_name_policy); missing parents are created. The link is
/// made under a temporary name, renamed into place and its directory
/// synced before 0 is returned.
int link_reference(int root, const std::vector<std::string>& reference,
                   const std::vector<std::string>& path, const LinkMsg& expect, NamePolicy policy,
                   HashCache& hashes);

/// A fresh hidden name (reserved prefix) for something made before it is
/// renamed into place.
std::string temporary_name();

/// Whether `policy` allows writing the name `name` in `parent` (-1 when the
/// parent directory does not exist yet, so neither does the name): 0,
/// kForbiddenByRights, EEXIST (exists, and only create is allowed), EISDIR
/// (a directory is there) or the errno of a failed lookup.
int check_name_policy(int parent, const std::string& name, NamePolicy policy);

/// Renames `from` to `to` in `dir`; with `no_replace` it fails with EEXIST
/// rather than replace a name that exists (RENAME_NOREPLACE, or a hard link
/// where the file system lacks it), atomically either way.
int rename_in(int dir, const std::string& from, const std::string& to, bool no_replace);

/// Bytes available to unprivileged users on the file system of `fd`; EROFS
/// when it is mounted read-only.
int available_bytes(int fd, std::uint64_t& out);

/// What one fstatvfs (and fstat) of a directory says about its file system.
struct FreeSpace {
  std::uint64_t bytes = 0;      // available to unprivileged users (f_bavail)
  std::uint64_t inodes = 0;     // likewise (f_favail)
  bool inodes_counted = false;  // false where f_files is 0: no inode limit
  dev_t device = 0;             // st_dev: which file system
};

/// The free space of the file system holding `fd`; EROFS when it is
/// mounted read-only.
int free_space(int fd, FreeSpace& out);

/// "<dev>:<inode>" of `fd`: names a directory whatever path reaches it.
int directory_identity(int fd, std::string& out);

/// Describes `relative` itself (not following a final symlink).
int stat_path(int root, const std::string& relative, Entry& out, bool meta = false);

Entry entry_from_stat(std::string name, const struct stat& st);

}  // namespace ft::server
