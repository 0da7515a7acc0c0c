// What ftsend -r does with each entry of a directory (tree_upload_job.hpp):
// files (the quick check, --ignore-existing, --checksum), hard links,
// symlinks, the ATTRS that follow them, and --link-dest's LINKs.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/tree_upload_job.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client::upload_tree {

bool hash_local_file(int dir_fd, const std::string& name, Hash128& out, std::string& why) {
  auto source = SourceFile::open_at(dir_fd, name, why);
  if (!source) return false;
  StreamHash128 hash;
  Bytes buffer(std::min<std::uint64_t>(source->size(), 1024 * 1024));
  for (std::uint64_t at = 0; at < source->size();) {
    auto length =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), source->size() - at));
    if (!source->read_at(at, std::span(buffer.data(), length), why)) return false;
    hash.update(ByteSpan(buffer.data(), length));
    at += length;
  }
  out = hash.digest();
  return true;
}

void TreeUploadJob::list_reference(Session& session, Dir& dir) {
  const std::string& top = options_.remote.path;
  const std::string below = top.empty()         ? dir.remote
                            : dir.remote == top ? std::string()
                                                : dir.remote.substr(top.size() + 1);
  dir.reference = below.empty() ? options_.link_dest : join_path(options_.link_dest, below);
  dir.reference_listing = true;
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_list(frame, id, PathMsg{dir.reference},
              static_cast<std::uint8_t>((options_.checksum ? kFlagHashes : 0) |
                                        (session.paced_agreed() ? kFlagPaced : 0)));
  dir.reference_id = id;
  send_control(ControlRequest{Control::kReferenceList, &dir, {}, {}, {}, 0}, std::move(frame), id);
}

void TreeUploadJob::on_reference_reply(
    Session& session, std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
    const Frame& frame) {
  Dir& dir = *found->second.dir;
  if (frame.header.type == FrameType::kEntries) {
    auto message = decode_entries(frame);
    if (!message) return session.protocol_error("malformed ENTRIES");
    if (dir.reference_huge) return;  // what comes before the CANCEL's ERROR
    if (auto why = listing_overflow(dir.reference_entries.size(), message->entries.size())) {
      return session.protocol_error(*why);
    }
    for (Entry& entry : message->entries) {
      if (component_violation(entry.name)) continue;
      std::string name = entry.name;
      dir.reference_entries.emplace(std::move(name), std::move(entry));
    }
    if (message->paused) {
      // More than one window: not held. LINK is then sent without looking
      // (the server checks the reference, link_instead()).
      dir.reference_huge = true;
      dir.reference_entries = {};
      Bytes cancel;
      encode_cancel(cancel, dir.reference_id);
      session.send(std::move(cancel), dir.reference_id);
    }
    if (message->more) return;
  } else if (frame.header.type == FrameType::kError) {
    // No reference directory (a new one, or a first snapshot): nothing
    // to link, every file that differs is sent.
    ErrorReply reply = read_error_reply(frame, dir.reference, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
  } else {
    return session.protocol_error(unexpected_frame(frame, "in reply to LIST"));
  }
  control_.erase(found);
  dir.reference_listing = false;
  release(session, dir);
}

bool TreeUploadJob::link_instead(Dir& dir, const LocalEntry& entry, const std::string& local,
                                 const std::string& remote) {
  const auto size = static_cast<std::uint64_t>(entry.st.st_size);
  // A huge reference directory is not held: the LINK goes out as if the
  // reference matched, and the server refuses it (REFERENCE_CHANGED or
  // NOT_FOUND, on_frame()) when it does not, so the file is sent then. A
  // dry run cannot ask: it counts such a file as sent.
  const Entry* reference = nullptr;
  if (!dir.reference_huge) {
    auto found = dir.reference_entries.find(entry.name);
    if (found == dir.reference_entries.end() || found->second.type != EntryType::kFile) {
      return false;
    }
    reference = &found->second;
    if (reference->size != size) return false;
  } else if (options_.dry_run) {
    return false;
  }
  LinkMsg msg{remote,
              join_path(dir.reference, entry.name),
              size,
              mtime_ns_of(entry.st),
              static_cast<std::uint32_t>(entry.st.st_mode & 07777),
              0,
              {}};
  if (options_.checksum) {
    std::string why;
    if (!hash_local_file(dir.fd.get(), entry.name, msg.content_hash, why) ||
        (reference != nullptr && msg.content_hash != reference->content_hash)) {
      return false;
    }
    msg.link_flags = kLinkCheckHash;
  } else if (reference != nullptr && reference->mtime_ns != msg.mtime_ns) {
    return false;
  }
  if (options_.dry_run) {
    report_.skipped(local, size, "linked", false);
    return true;
  }
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_link(frame, id, msg);
  send_control(ControlRequest{Control::kLink, &dir, local, remote, entry.name, size},
               std::move(frame), id);
  return true;
}

TreeUploadJob::FileOutcome TreeUploadJob::file_entry(Dir& dir, const LocalEntry& entry,
                                                     const std::string& local,
                                                     const std::string& remote,
                                                     const Entry* theirs) {
  const auto size = static_cast<std::uint64_t>(entry.st.st_size);
  report_.progress().add_total(1, size);
  if (theirs != nullptr && theirs->type == EntryType::kFile) {
    if (options_.ignore_existing) {
      report_.skipped(local, size, "exists", false);
      settled_.add(local);  // a retry neither counts nor reports it again
      return FileOutcome::kSkipped;
    }
    if (options_.checksum) {
      Hash128 mine;
      std::string why;
      if (!hash_local_file(dir.fd.get(), entry.name, mine, why)) {
        settled_.add(local);
        report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
        return FileOutcome::kFailed;
      }
      if (mine == theirs->content_hash) {
        report_.skipped(local, size, "same checksum", false);
        skip_settled(dir, local, remote);
        return FileOutcome::kSkipped;
      }
    } else if (theirs->size == size && theirs->mtime_ns == mtime_ns_of(entry.st)) {
      report_.skipped(local, size, "unchanged", false);
      skip_settled(dir, local, remote);
      return FileOutcome::kSkipped;
    }
  }
  // A LINKed file is done by the server (it is not in the pipeline).
  if (!options_.link_dest.empty() && link_instead(dir, entry, local, remote)) {
    return FileOutcome::kSkipped;
  }
  if (options_.dry_run) {
    report_.transferred(local, size, 0);
    return FileOutcome::kSkipped;
  }
  enqueue_file(&dir, entry.name, local, remote);
  return FileOutcome::kQueued;
}

void TreeUploadJob::hard_link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                                    const std::string& remote, const Entry* theirs) {
  using Links = HardLinks<LinkWaiter>;
  const Links::Key key{static_cast<std::uint64_t>(entry.st.st_dev),
                       static_cast<std::uint64_t>(entry.st.st_ino)};
  Links::Group& group = hard_links_.find(key);
  switch (group.state) {
    case Links::State::kNew: {
      group.first = remote;
      group.state = Links::State::kPending;
      const FileOutcome outcome = file_entry(dir, entry, local, remote, theirs);
      if (outcome == FileOutcome::kQueued) return hard_links_.pending(local, key);
      group.state = outcome == FileOutcome::kSkipped ? Links::State::kDone : Links::State::kFailed;
      return;
    }
    case Links::State::kPending:
      ++dir.pending;  // until the first name settles
      group.waiting.push_back(LinkWaiter{&dir, entry, local, remote});
      return;
    case Links::State::kDone:
      return send_hardlink(dir, local, remote, group.first);
    case Links::State::kFailed:
      file_entry(dir, entry, local, remote, theirs);
      return;
  }
}

void TreeUploadJob::send_hardlink(Dir& dir, const std::string& local, const std::string& remote,
                                  const std::string& existing) {
  settled_.add(local);
  report_.progress().add_total(1, 0);
  if (options_.dry_run) return report_.created("hardlink", local);
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_hardlink(frame, id, HardlinkMsg{remote, existing});
  send_control(ControlRequest{Control::kHardlink, &dir, local, remote, {}, 0}, std::move(frame),
               id);
}

// A skipped file is settled, so that a retry neither counts nor reports it
// again; when its attributes are still sent, once the server answered them.
void TreeUploadJob::skip_settled(Dir& dir, const std::string& local, const std::string& remote) {
  if (!send_attrs(&dir, dir.fd.get(), local, remote, true)) settled_.add(local);
}

bool TreeUploadJob::send_attrs(Dir* dir, int dir_fd, const std::string& local,
                               const std::string& remote, bool settles) {
  if (!plan_->attrs() || options_.dry_run || remote.empty()) return false;
  const std::string name =
      local.substr(local.rfind('/') == std::string::npos ? 0 : local.rfind('/') + 1);
  struct stat st {};
  std::string why;
  std::optional<AttrsMsg> attrs;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    why = std::string("cannot stat: ") + std::strerror(errno);
  } else {
    attrs = upload_attrs(*plan_, dir_fd, name, st, remote, names_, why);
  }
  if (!attrs) {
    if (!why.empty()) report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
    return false;
  }
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_attrs(frame, id, *attrs);
  ControlRequest request{Control::kAttrs, dir, local, remote, {}, 0, settles};
  if (dir != nullptr) ++dir->pending;
  outbox_.push_back(Outgoing{id, std::move(request), std::move(frame)});
  return true;
}

void TreeUploadJob::send_directory_attrs(Dir& dir) {
  if (!plan_->attrs() || dir.remote.empty()) return;
  if (dir.parent != nullptr) {
    send_attrs(dir.parent, dir.parent->fd.get(), dir.local, dir.remote);
    return;
  }
  // A root: named by its whole path.
  struct stat st {};
  std::string why;
  std::optional<AttrsMsg> attrs;
  if (::fstat(dir.fd.get(), &st) != 0) return;
  attrs = upload_attrs(*plan_, dir.fd.get(), ".", st, dir.remote, names_, why);
  if (!attrs) {
    if (!why.empty()) report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, why});
    return;
  }
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_attrs(frame, id, *attrs);
  outbox_.push_back(Outgoing{id,
                             ControlRequest{Control::kAttrs, nullptr, dir.local, dir.remote, {}, 0},
                             std::move(frame)});
}

void TreeUploadJob::enqueue_file(Dir* dir, const std::string& name, const std::string& local,
                                 const std::string& remote) {
  if (dir == nullptr) {
    // A plain file named on the command line.
    if (settled_.contains(local)) return;
    if (options_.dry_run) {
      std::string why;
      auto source = SourceFile::open(local, why);
      if (!source) return report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, why});
      return report_.transferred(local, source->size(), 0);
    }
  }
  auto item = std::make_unique<UploadItem>();
  item->local = local;
  item->remote = remote;
  item->dir_fd = dir == nullptr ? -1 : dir->fd.get();
  item->name = name;
  queue_item(std::move(item), dir);
}

void TreeUploadJob::link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                               const std::string& remote, const std::string& rel,
                               const Entry* theirs) {
  if (!options_.archive.links) return report_.skipped(local, 0, "symlink", true);
  std::string target(static_cast<std::size_t>(entry.st.st_size) + 1, '\0');
  ssize_t n = ::readlinkat(dir.fd.get(), entry.name.c_str(), target.data(), target.size());
  if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
    settled_.add(local);
    return report_.failed(local,
                          Error{ErrorCode::LOCAL_FILE,
                                {},
                                n < 0 ? "cannot read the link: " + std::string(std::strerror(errno))
                                      : "the link changed while being read"});
  }
  target.resize(static_cast<std::size_t>(n));
  // With ARCHIVE the target is stored as it is (the server never follows
  // one that leaves the tree); else only links inside the tree go.
  if (auto why = plan_->verbatim_links ? archive_target_violation(target)
                                       : link_target_violation(rel, target)) {
    settled_.add(local);
    return report_.refused(local, target, *why);
  }
  // A STAT (huge directories) carries no target: there the link's mtime,
  // which SYMLINK sets, stands for it, as size and mtime do for a file.
  if (theirs != nullptr && theirs->type == EntryType::kSymlink &&
      (dir.huge ? theirs->mtime_ns == mtime_ns_of(entry.st) : theirs->target == target)) {
    return report_.skipped(local, 0, "unchanged", false);
  }
  if (options_.dry_run) return report_.created("symlink", local);
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_symlink(frame, id, SymlinkMsg{remote, target, mtime_ns_of(entry.st)});
  send_control(ControlRequest{Control::kSymlink, &dir, local, remote, {}, 0}, std::move(frame), id);
}

void TreeUploadJob::on_settled(Session& session, UploadItem& item) {
  const bool ok = item.state == UploadState::kDone && !item.failure;
  Dir* dir = static_cast<Dir*>(item.owner);
  if (ok && dir != nullptr) send_attrs(dir, item.dir_fd, item.local, item.remote);
  if (auto waiters = hard_links_.settled(item.local, ok)) {
    // The other names of this file: links to it now, or files of their
    // own if it did not make it.
    for (LinkWaiter& waiter : *waiters) {
      if (ok) {
        send_hardlink(*waiter.dir, waiter.local, waiter.remote, item.remote);
      } else {
        file_entry(*waiter.dir, waiter.entry, waiter.local, waiter.remote, nullptr);
      }
      release(session, *waiter.dir);
    }
  }
  settle(session, item, item.local, item.state == UploadState::kRetryLater);
}

}  // namespace ft::client::upload_tree
