#pragma once
// What ftsend -r and ftget -r keep beyond contents (ARCHIVE, SPARSE and
// OWNERS, docs/protocol.md section 5.9; docs/client.md "Faithful trees"):
// the options, what a connection allows of them, the ATTRS an upload sends
// and the metadata a download applies, and the hard links of one transfer.
#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/os/file_attrs.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

class Session;

/// The options (-a and the ones it stands for).
struct ArchiveOptions {
  bool archive = false;  // -a: owners and groups too, when the receiver is root
  bool owner = false;    // --owner
  bool group = false;    // --group
  bool xattrs = false;   // -X
  bool acls = false;     // -A
  bool links = true;     // symbolic links as links (--no-links: skipped)
};

/// What one connection of a tree transfer keeps, decided from the options
/// and the agreed capabilities.
struct ArchivePlan {
  bool verbatim_links = false;  // any link target (ARCHIVE); else only inside the tree
  bool hard_links = false;      // ARCHIVE: names of one file stay one file
  bool meta = false;            // LIST with META
  bool owner = false, group = false, xattrs = false, acls = false;
  bool exact_mode = false;  // -a: ATTRS with the exact mode (the server's umask not applied)
  /// ATTRS (upload) or local changes (download) after each entry.
  bool attrs() const { return owner || group || xattrs || acls || exact_mode; }
};

/// The plan of an upload: the receiver is the server, which sets owners
/// only with OWNERS. nullopt with `why` when an explicit option cannot be
/// honoured (--owner without OWNERS, -X or -A without ARCHIVE).
std::optional<ArchivePlan> plan_upload(const ArchiveOptions& options, const Session& session,
                                       std::string& why);
/// The plan of a download: the receiver is this process (owners as root).
ArchivePlan plan_download(const ArchiveOptions& options, const Session& session);

/// The ATTRS for the local `name` in `dir_fd` (described by `st`), sent to
/// `remote`; nullopt when there is nothing to set, or with `why` when its
/// attributes cannot be read or pass the protocol's limit.
std::optional<AttrsMsg> upload_attrs(const ArchivePlan& plan, int dir_fd, const std::string& name,
                                     const struct stat& st, const std::string& remote,
                                     OwnerNames& names, std::string& why);

/// Applies what `entry` says (owners by name, else number; the exact mode;
/// attributes) to `name` in `dir_fd` itself, as the plan asks. False with
/// `why`.
bool apply_entry_meta(const ArchivePlan& plan, int dir_fd, const std::string& name,
                      const Entry& entry, OwnerNames& names, std::string& why);

/// Makes `name` in `dir_fd` another name of the file at `existing` (a path
/// the transfer wrote), replacing what is there atomically. False with `why`.
bool make_local_hardlink(const std::string& existing, int dir_fd, const std::string& name,
                         std::string& why);

/// The hard links met in one transfer: the first name of each file goes
/// as a file, the others wait for it and then become links to it (or go as
/// files of their own if it failed). `Waiter` is what a waiting name needs.
template <class Waiter>
class HardLinks {
 public:
  using Key = std::pair<std::uint64_t, std::uint64_t>;
  enum class State { kNew, kPending, kDone, kFailed };
  struct Group {
    std::string first;  // its remote path (upload) or local path (download)
    State state = State::kPending;
    std::vector<Waiter> waiting;
  };

  /// The group of `key`: a new one (state kNew, to be filled in) the first time.
  Group& find(const Key& key) {
    auto [it, fresh] = groups_.try_emplace(key);
    if (fresh) it->second.state = State::kNew;
    return it->second;
  }
  /// The first name `first_local` of a group settled: its waiters, to serve.
  std::optional<std::vector<Waiter>> settled(const std::string& first_local, bool ok) {
    auto found = firsts_.find(first_local);
    if (found == firsts_.end()) return std::nullopt;
    Group& group = groups_[found->second];
    firsts_.erase(found);
    group.state = ok ? State::kDone : State::kFailed;
    return std::exchange(group.waiting, {});
  }
  /// Remembers that the item `first_local` is the first name of `key`.
  void pending(const std::string& first_local, const Key& key) { firsts_[first_local] = key; }

 private:
  std::map<Key, Group> groups_;
  std::map<std::string, Key> firsts_;
};

}  // namespace ft::client
