// What each entry of a listing becomes locally in ftget -r: a file to
// fetch (or skip, when unchanged), another name of a file fetched already,
// a symbolic link, or a local name the server lacks (--delete).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/local/local_dir.hpp"
#include "client/local/local_tree.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/local_delete.hpp"
#include "client/transfer/tree_download_job.hpp"
#include "common/os/mtime.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client::tree_download {
namespace {

// Temporary name of a symlink being created, renamed over the final name.
constexpr std::string_view kLinkTempPrefix = ".ft-link.";

std::uint64_t name_key(std::string_view name) {
  return hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

// Creates or replaces the symlink `name` in `dir_fd` atomically: made under
// a temporary name, then renamed (rename never follows a link at `name`).
bool make_symlink(int dir_fd, const std::string& name, const std::string& target,
                  std::int64_t mtime_ns, std::string& why) {
  const std::string temp =
      std::string(kLinkTempPrefix) + std::to_string(::getpid()) + "." +
      std::to_string(
          hash64(ByteSpan(reinterpret_cast<const std::uint8_t*>(name.data()), name.size())) &
          0xffffffff);
  ::unlinkat(dir_fd, temp.c_str(), 0);
  if (::symlinkat(target.c_str(), dir_fd, temp.c_str()) != 0) {
    why = std::string("cannot create the link: ") + std::strerror(errno);
    return false;
  }
  const timespec times[2] = {{0, UTIME_OMIT}, timespec_of_ns(mtime_ns)};
  ::utimensat(dir_fd, temp.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    why = std::string("cannot rename the link into place: ") + std::strerror(errno);
    ::unlinkat(dir_fd, temp.c_str(), 0);
    return false;
  }
  return true;
}

}  // namespace

void TreeDownloadJob::feed_entry(Dir& dir, Entry& entry) {
  dir.fed = true;
  if (auto why = component_violation(entry.name, rules_)) {
    // Never used, whatever it is: the server broke the protocol.
    return report_.failed(
        join_path(dir.local, entry.name),
        Error{ErrorCode::PROTOCOL, {}, "the server sent an invalid name: " + *why});
  }
  if (dir.names.size() >= kNamesRemembered) dir.names.clear();
  if (!dir.names.insert(entry.name).second) {
    // Only the first of a name is used: a second would land on it.
    return report_.failed(join_path(dir.local, entry.name),
                          Error{ErrorCode::PROTOCOL, {}, "the server listed this name twice"});
  }
  if (auto why = absurd_size(entry.size); why && entry.type == EntryType::kFile) {
    return report_.failed(join_path(dir.local, entry.name), Error{ErrorCode::PROTOCOL, {}, *why});
  }
  const std::string rel = join_path(dir.rel, entry.name);
  // The same rules as ftsend -r; an excluded directory is not listed.
  if (options_.filters.excluded(rel, entry.type == EntryType::kDirectory)) return;
  if (deletes_ != nullptr) dir.taken.push_back(name_key(entry.name));
  const std::string local = join_path(dir.local, entry.name);
  if (settled_.contains(local)) return;
  const std::string remote = join_path(dir.remote, entry.name);
  if (auto why = path_violation(remote, false, rules_)) {
    // Too deep or too long: an endless tree stops here.
    return report_.failed(local, Error{ErrorCode::BAD_PATH, {}, "cannot be fetched: " + *why});
  }
  switch (entry.type) {
    case EntryType::kDirectory:
      dir.subdirs.push_back(Visit{{&dir, entry.name, local, remote, rel}, entry});
      ++dir.pending;
      break;
    case EntryType::kFile:
      if (plan_->hard_links && entry.meta.link_key != 0) {
        hard_link_entry(dir, entry, local, remote);
      } else {
        file_entry(dir, entry, local, remote);
      }
      break;
    case EntryType::kSymlink:
      link_entry(dir, entry, local, rel);
      break;
    case EntryType::kOther:
      report_.skipped(local, 0, "special file", true);
      break;
  }
}

void TreeDownloadJob::plan_deletions(Dir& dir) {
  std::sort(dir.taken.begin(), dir.taken.end());
  DirectoryStream stream;
  std::vector<LocalEntry> locals;
  std::string why;
  bool read = stream.open(dir.fd.get(), why);
  while (read && !stream.at_end()) {
    if (!stream.read(locals, walk_window(), why)) {
      read = false;
      break;
    }
    for (const LocalEntry& local : locals) {
      if (local.name.starts_with(kReservedPrefix) ||
          std::binary_search(dir.taken.begin(), dir.taken.end(), name_key(local.name))) {
        continue;
      }
      const bool directory = S_ISDIR(local.st.st_mode);
      const std::string rel = join_path(dir.rel, local.name);
      if (deletes_->protected_name(rel, directory)) continue;
      deletes_->add(Deletion{join_path(dir.below, local.name), rel,
                             join_path(dir.local, local.name), directory});
      dir.lost_names = true;
    }
  }
  if (!read) {
    report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, "cannot read directory: " + why});
  }
}

bool TreeDownloadJob::file_entry(Dir& dir, const Entry& entry, const std::string& local,
                                 const std::string& remote) {
  report_.progress().add_total(1, entry.size);
  struct stat st {};
  // A directory this run created holds nothing to compare with.
  if (dir.fd && !dir.created &&
      ::fstatat(dir.fd.get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) == entry.size &&
      mtime_ns_of(st) == entry.mtime_ns) {
    report_.skipped(local, entry.size, "unchanged", false);
    settled_.add(local);  // a retry neither counts nor reports it again
    std::string why;
    if (!options_.dry_run &&
        !apply_entry_meta(*plan_, dir.fd.get(), entry.name, entry, names_, why)) {
      report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    return false;
  }
  if (options_.dry_run) {
    report_.transferred(local, entry.size, 0);
    return false;
  }
  if (plan_->attrs()) metas_.emplace(local, entry);
  auto item = std::make_unique<DownloadItem>();
  item->remote = remote;
  item->local_name = entry.name;
  item->local_path = local;
  item->dir_fd = dir.fd.get();
  item->size_counted = true;  // add_total() above
  // A directory this run created holds no older copy, and by default a
  // delta pays only from kDeltaMinSize: no open of a local file per file.
  item->fresh_dir = dir.created;
  item->no_basis =
      dir.created || (options_.delta == DeltaMode::kAuto && entry.size < kDeltaMinSize);
  queue_item(std::move(item), &dir);
  return true;
}

void TreeDownloadJob::hard_link_entry(Dir& dir, const Entry& entry, const std::string& local,
                                      const std::string& remote) {
  using Links = HardLinks<LinkWaiter>;
  const Links::Key key{entry.meta.link_key, 0};
  Links::Group& group = hard_links_.find(key);
  switch (group.state) {
    case Links::State::kNew:
      group.first = local;
      group.state = Links::State::kPending;
      if (file_entry(dir, entry, local, remote)) return hard_links_.pending(local, key);
      group.state = Links::State::kDone;  // unchanged here, or a dry run
      return;
    case Links::State::kPending:
      ++dir.pending;  // until the first name settles
      group.waiting.push_back(LinkWaiter{&dir, entry, local, remote});
      return;
    case Links::State::kDone:
      return link_to(dir, entry.name, local, group.first);
    case Links::State::kFailed:
      file_entry(dir, entry, local, remote);
      return;
  }
}

void TreeDownloadJob::link_to(Dir& dir, const std::string& name, const std::string& local,
                              const std::string& existing) {
  settled_.add(local);
  if (options_.dry_run) return report_.created("hardlink", local);
  std::string why;
  if (!dir.fd || !make_local_hardlink(existing, dir.fd.get(), name, why)) {
    return report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
  }
  report_.created("hardlink", local);
}

void TreeDownloadJob::link_entry(Dir& dir, const Entry& entry, const std::string& local,
                                 const std::string& rel) {
  if (!options_.archive.links) return report_.skipped(local, 0, "symlink", true);
  settled_.add(local);
  // With ARCHIVE a link is recreated as it was, whatever its target: this
  // client never follows a link it made (directories are opened with
  // O_NOFOLLOW, files are renamed over names), so none can lead a write
  // out of LOCAL_DIR.
  if (auto why = plan_->verbatim_links ? archive_target_violation(entry.target)
                                       : link_target_violation(rel, entry.target)) {
    return report_.refused(local, entry.target, *why);
  }
  if (dir.fd) {
    std::string now(entry.target.size() + 1, '\0');
    ssize_t n = ::readlinkat(dir.fd.get(), entry.name.c_str(), now.data(), now.size());
    if (n >= 0 && static_cast<std::size_t>(n) == entry.target.size() &&
        now.compare(0, entry.target.size(), entry.target) == 0) {
      return report_.skipped(local, 0, "unchanged", false);
    }
  }
  if (options_.dry_run) return report_.created("symlink", local);
  std::string why;
  if (!make_symlink(dir.fd.get(), entry.name, entry.target, entry.mtime_ns, why) ||
      !apply_entry_meta(*plan_, dir.fd.get(), entry.name, entry, names_, why)) {
    return report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
  }
  report_.created("symlink", local);
}

}  // namespace ft::client::tree_download
