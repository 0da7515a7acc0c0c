#include "client/transfer/tree_download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "client/local/local_dir.hpp"
#include "client/local/local_tree.hpp"
#include "client/net/interrupt.hpp"
#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/get_pipeline.hpp"
#include "client/transfer/local_delete.hpp"
#include "client/transfer/tree_archive.hpp"
#include "client/transfer/tree_download_job.hpp"
#include "client/transfer/tree_walk.hpp"
#include "common/os/mtime.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace tree_download {

void TreeDownloadJob::visit_directory(Session& session, Visit visit) {
  const int parent_fd = visit.parent == nullptr ? local_fd_ : visit.parent->fd.get();
  Fd fd;
  bool created = false;
  std::string why;
  if (visit.name.empty()) {
    fd.reset(::fcntl(parent_fd, F_DUPFD_CLOEXEC, 0));
  } else if (parent_fd >= 0) {
    // 0700 while the content lands; the real mode is applied at the end.
    const bool made = !options_.dry_run && ::mkdirat(parent_fd, visit.name.c_str(), 0700) == 0;
    if (!made && !options_.dry_run && errno != EEXIST) {
      why = std::strerror(errno);
    } else {
      created = made;
      fd = open_directory(parent_fd, visit.name, false, why);
      if (!fd && options_.dry_run && errno == ENOENT) why.clear();
      struct stat st {};
      if (!fd && ::fstatat(parent_fd, visit.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        // O_NOFOLLOW | O_DIRECTORY fails with ENOTDIR on a link: say what it is.
        why = "it is a symbolic link, which is never followed";
      }
    }
  }
  if (!why.empty()) return visit_failed(session, visit, "cannot create or open directory: " + why);
  Dir& dir = add_directory(visit, std::move(fd));
  dir.parent_fd = parent_fd;
  dir.name = visit.name;
  dir.created = created;
  dir.self = std::move(visit.self);
  dir.below = dir.parent == nullptr ? dir.name : join_path(dir.parent->below, dir.name);
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_list(frame, id, PathMsg{dir.remote},
              static_cast<std::uint8_t>((options_.archive.links ? kFlagTargets : 0) |
                                        (plan_->meta ? kFlagMeta : 0) |
                                        (session.paced_agreed() ? kFlagPaced : 0)));
  session.send(std::move(frame), id);
  dir.list_id = id;
  lists_.emplace(id, &dir);
  ++lists_in_flight_;
  ++dir.pending;
  if (dir.parent == nullptr && !visit.name.empty() && !dir.remote.empty()) {
    // A root copied as a directory of its own: its mode and mtime come
    // from a STAT (its parent is not listed).
    const std::uint32_t stat_id = next_id_++;
    Bytes stat;
    encode_stat(stat, stat_id, PathMsg{dir.remote}, plan_->meta ? kFlagMeta : 0);
    session.send(std::move(stat), stat_id);
    stats_.emplace(stat_id, &dir);
    ++dir.pending;
  }
}

bool TreeDownloadJob::take_entries(Session& session, Dir& dir, EntriesMsg& message) {
  // A PACED listing sends about a window per NEXT; an older server sends
  // the whole listing at once. Either way what comes between two NEXTs
  // (all of it without PACED) is bounded: entries are fed as they come,
  // so a server listing without end would otherwise never be stopped.
  if (auto why = listing_overflow(dir.since_next, message.entries.size())) {
    session.protocol_error(*why + " (" + printable(dir.remote) + ")");
    return false;
  }
  dir.since_next += message.entries.size();
  if (dir.next > 0 && dir.next * 2 >= dir.entries.size()) {
    // The fed part goes before the vector grows.
    dir.entries.erase(dir.entries.begin(),
                      dir.entries.begin() + static_cast<std::ptrdiff_t>(dir.next));
    dir.next = 0;
  }
  for (Entry& entry : message.entries) dir.entries.push_back(std::move(entry));
  if (message.paused) dir.paused = true;
  return true;
}

void TreeDownloadJob::list_failed(Dir& dir, const Error& error) {
  report_.failed(dir.local, error, dir.remote.empty() ? "/" : dir.remote);
  dir.failed = true;
  dir.entries.clear();
  dir.next = 0;
  if (dir.created && !dir.fed) {
    // Do not leave an empty directory for a remote one that failed. (One
    // whose first windows were fed has files landing in it: it stays.)
    dir.fd.reset();
    ::unlinkat(dir.parent_fd, dir.name.c_str(), AT_REMOVEDIR);
  }
}

void TreeDownloadJob::on_stat_reply(Session& session, const Frame& frame) {
  auto found = stats_.find(frame.header.request_id);
  Dir& dir = *found->second;
  if (frame.header.type == FrameType::kEntries) {
    auto message = decode_entries(frame);
    if (!message || message->more || message->entries.size() != 1) {
      return session.protocol_error("STAT must answer exactly one entry");
    }
    if (auto why = stat_reply_violation(message->entries[0], dir.remote)) {
      return session.protocol_error(*why);
    }
    if (message->entries[0].type == EntryType::kDirectory) dir.self = message->entries[0];
  } else if (frame.header.type == FrameType::kError) {
    ErrorReply reply = read_error_reply(frame, dir.remote, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
  } else {
    return session.protocol_error(unexpected_frame(frame, "in reply to STAT"));
  }
  // An ERROR here is reported by the LIST of the same path.
  stats_.erase(found);
  release(session, dir);
}

Feed TreeDownloadJob::feed(Session& session, Dir& dir) {
  while (!dir.failed) {
    if (dir.paused && dir.entries.size() - dir.next < kNextWhenLeft) {
      Bytes frame;
      encode_next(frame, dir.list_id);
      session.send(std::move(frame), dir.list_id);
      dir.paused = false;
      dir.since_next = 0;
    }
    if (dir.next == dir.entries.size()) {
      dir.entries.clear();
      dir.next = 0;
      if (!dir.listed) return Feed::kWaiting;
      break;
    }
    if (fed_enough()) return Feed::kBlocked;
    Entry entry = std::move(dir.entries[dir.next++]);
    feed_entry(dir, entry);
  }
  if (deletes_ != nullptr && !dir.failed && dir.fd) plan_deletions(dir);
  dir.entries = {};
  dir.names = {};
  dir.taken = {};
  // Visited even after a failed listing: each holds its parent.
  push_visits(dir.subdirs);
  dir.subdirs = {};
  return Feed::kDone;
}

void TreeDownloadJob::on_settled(Session& session, DownloadItem& item) {
  const bool ok = item.state == DownloadState::kDone && !item.failure;
  if (auto meta = metas_.find(item.local_path); meta != metas_.end()) {
    std::string why;
    if (ok && !apply_entry_meta(*plan_, item.dir_fd, item.local_name, meta->second, names_, why)) {
      report_.failed(item.local_path, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    metas_.erase(meta);
  }
  if (auto waiters = hard_links_.settled(item.local_path, ok)) {
    for (LinkWaiter& waiter : *waiters) {
      if (ok) {
        link_to(*waiter.dir, waiter.entry.name, waiter.local, item.local_path);
      } else {
        file_entry(*waiter.dir, waiter.entry, waiter.local, waiter.remote);
      }
      release(session, *waiter.dir);
    }
  }
  settle(session, item, item.local_path, item.state == DownloadState::kRetryLater);
}

void TreeDownloadJob::release(Session& session, Dir& dir) {
  if (--dir.pending > 0) return;
  // --delete will change the mtime set below: the phase sets it again.
  // Remembered here, not when the deletions were planned: a root's own
  // mode and mtime (its STAT) may answer after its LIST.
  if (dir.lost_names && dir.self) {
    deletes_->remember_times(dir.below, DeletePlan::DirTimes{dir.self->mode, dir.self->mtime_ns});
  }
  // Everything below is done: the directory's own mode and mtime now,
  // since adding entries changed its mtime.
  if (!options_.dry_run && dir.fd && dir.self) {
    const timespec times[2] = {{0, UTIME_OMIT}, timespec_of_ns(dir.self->mtime_ns)};
    std::string why;
    // Owners, set-id bits and attributes (ARCHIVE) before the times.
    if (!apply_entry_meta(*plan_, dir.fd.get(), "", *dir.self, names_, why)) {
      report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    if (::fchmod(dir.fd.get(), dir.self->mode & (plan_->owner ? 07777 : 0777)) != 0 ||
        ::futimens(dir.fd.get(), times) != 0) {
      report_.failed(dir.local,
                     Error{ErrorCode::LOCAL_FILE,
                           {},
                           std::string("cannot set mode or mtime: ") + std::strerror(errno)});
    }
  }
  // Post-order, so this one sync makes durable what the directory
  // received and nothing else would sync: the entries of the directories
  // and links made in it (files sync their own) and its mode and mtime.
  // Its own entry is synced with its parent, later; a root's parent is
  // LOCAL_DIR, synced with it. On the commit thread, with the next group
  // of files (about 10 ms each on a disk): the directory is done, and its
  // parent released, when it comes back (on_directory_synced).
  if (!options_.dry_run && dir.fd && !dir.failed) {
    const bool with_parent = dir.created && dir.parent == nullptr;
    return pipeline_.sync_directory(dir.fd.get(), with_parent ? dir.parent_fd : -1, &dir);
  }
  directory_synced(session, dir);
}

void TreeDownloadJob::on_directory_synced(Session& session, void* cookie,
                                          const std::optional<std::string>& failure) {
  Dir& dir = *static_cast<Dir*>(cookie);
  if (failure) {
    dir.failed = true;
    report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, *failure});
  }
  directory_synced(session, dir);
}

void TreeDownloadJob::directory_synced(Session& session, Dir& dir) {
  if (!dir.failed && !(dir.parent == nullptr && dir.self == std::nullopt)) {
    report_.created("directory", dir.local);
  }
  directory_done(session, dir);
}

}  // namespace tree_download

using tree_download::Root;
using tree_download::TreeDownloadJob;

int run_tree_download(const DownloadOptions& options, TransferReport& report) {
  std::vector<Root> roots;
  for (std::size_t i = 0; i < options.paths.size(); ++i) {
    const std::string& remote = options.paths[i];
    const bool contents = options.contents_only[i] || remote.empty();
    roots.push_back(Root{remote, contents ? "" : local_name_for(remote)});
  }
  std::optional<LocalDirectory> dir;
  std::string why;
  if (options.dry_run && !is_existing_directory(options.local_dir)) {
    // Nothing is created in a dry run: every file would be received.
  } else if (dir = LocalDirectory::open_or_create(options.local_dir, why); !dir) {
    report.failed(options.local_dir, Error{ErrorCode::LOCAL_FILE, {}, why});
    return report.finish();
  }
  const int local_fd = dir ? dir->fd() : -1;
  DeletePlan plan(options.filters, options.deletes);
  DeletePlan* deletes = options.deletes.enabled && local_fd >= 0 ? &plan : nullptr;
  TreeWork work(report, [&](SettledPaths& settled, std::vector<DeferredFile>& deferred) {
    TreeDownloadJob job(roots, options, local_fd, report, settled, deferred, deletes);
    return connect_and_run(options.host, options.port, job);
  });
  run_with_retries("ftget", work, options.retries, report);
  if (options.deletes.enabled) {
    report.deleting();
    // As ftsend: nothing is deleted unless every transfer succeeded.
    if (report.failed_so_far() || interrupted()) {
      report.deletions_skipped();
    } else if (deletes != nullptr && !plan.empty()) {
      run_local_delete(local_fd, plan, options.deletes, options.dry_run, report);
    }
  }
  return report.finish();
}

}  // namespace ft::client
