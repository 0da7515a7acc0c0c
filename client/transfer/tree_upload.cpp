#include "client/transfer/tree_upload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/net/interrupt.hpp"
#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/remote_delete.hpp"
#include "client/transfer/tree_upload_job.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace upload_tree {

void TreeUploadJob::produce(Session& session) {
  if (!trees_ready(session)) return;
  if (!options_.link_dest.empty() && !session.link_agreed()) {
    return session.fail(ErrorCode::PROTOCOL,
                        "the server does not support LINK (capability LINK); --link-dest needs "
                        "a newer ftserve");
  }
  if (!plan_) {
    std::string why;
    plan_ = plan_upload(options_.archive, session, why);
    if (!plan_) return session.fail(ErrorCode::FORBIDDEN, why);
    rules_ = session.name_rules();
  }
  walk(session);
  pipeline_.pump(session);
}

void TreeUploadJob::on_frame(Session& session, Frame& frame) {
  const std::uint32_t id = frame.header.request_id;
  if (pipeline_.owns(id)) return pipeline_.on_frame(session, frame);
  auto found = control_.find(id);
  if (found == control_.end()) return session.protocol_error(unexpected_frame(frame));
  if (found->second.kind == Control::kList)
    return on_list_reply(session, *found->second.dir, frame);
  if (found->second.kind == Control::kReferenceList) {
    return on_reference_reply(session, found, frame);
  }
  if (found->second.kind == Control::kDeletePass) {
    return on_delete_pass_reply(session, found, frame);
  }
  if (found->second.kind == Control::kHashProbe) {
    return on_hash_probe_reply(session, found, frame);
  }
  if (found->second.kind == Control::kStat) {
    ControlRequest request = std::move(found->second);
    control_.erase(found);
    return on_stat_reply(session, std::move(request), frame);
  }
  ControlRequest request = std::move(found->second);
  control_.erase(found);
  std::optional<Error> error;
  if (frame.header.type == FrameType::kError) {
    const bool own_path = request.kind == Control::kSymlink || request.kind == Control::kLink ||
                          request.kind == Control::kHardlink || request.kind == Control::kAttrs;
    const std::string& requested = own_path ? request.remote : request.dir->remote;
    ErrorReply reply = read_error_reply(frame, requested, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
    error = std::move(reply.failure);
  } else if (frame.header.type != FrameType::kOk) {
    return session.protocol_error(unexpected_frame(frame));
  }
  if (request.kind == Control::kAttrs || request.kind == Control::kHardlink) {
    if (request.settles) settled_.add(request.local);
    if (error) {
      report_.failed(request.local, *error, request.remote);
    } else if (request.kind == Control::kHardlink) {
      report_.created("hardlink", request.local);
    }
    if (request.dir != nullptr) release(session, *request.dir);
    return;
  }
  Dir& dir = *request.dir;
  switch (request.kind) {
    case Control::kMkdirBefore:
      if (error) {
        report_.failed(dir.local, *error, dir.remote);
        dir.failed = true;
      }
      break;
    case Control::kMkdirAfter:
      if (error) {
        report_.failed(dir.local, *error, dir.remote);
      } else {
        report_.created("directory", dir.local);
        send_directory_attrs(dir);
      }
      return directory_done(session, dir);
    case Control::kSymlink:
      settled_.add(request.local);
      if (error) {
        report_.failed(request.local, *error);
      } else {
        report_.created("symlink", request.local);
        send_attrs(&dir, dir.fd.get(), request.local, request.remote);
      }
      break;
    case Control::kLink:
      if (!error) {
        settled_.add(request.local);
        report_.skipped(request.local, request.size, "linked", false);
      } else if (error->code == ErrorCode::REFERENCE_CHANGED ||
                 error->code == ErrorCode::NOT_FOUND) {
        // The reference changed since it was listed: the file is sent.
        enqueue_file(&dir, request.name, request.local, request.remote);
      } else {
        settled_.add(request.local);
        report_.failed(request.local, *error);
      }
      break;
    case Control::kList:
    case Control::kReferenceList:
    case Control::kHardlink:
    case Control::kAttrs:
    case Control::kStat:
    case Control::kHashProbe:
    case Control::kDeletePass:
      break;
  }
  release(session, dir);
}

void TreeUploadJob::visit_directory(Session& session, Visit visit) {
  std::string why;
  const bool root = visit.parent == nullptr;
  struct stat st {};
  if (root && ::stat(visit.name.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // A plain file named on the command line: sent like ftsend FILE does.
    return enqueue_file(nullptr, visit.name, visit.local, visit.remote);
  }
  Fd fd = open_directory(root ? AT_FDCWD : visit.parent->fd.get(), visit.name, root, why);
  if (fd && ::fstat(fd.get(), &st) != 0) {
    why = std::strerror(errno);
    fd.reset();
  }
  if (!fd) return visit_failed(session, visit, "cannot open directory: " + why);
  Dir& dir = add_directory(visit, std::move(fd));
  dir.mode = st.st_mode & 07777;
  dir.mtime_ns = mtime_ns_of(st);
  if (!dir.stream.open(dir.fd.get(), why)) directory_unreadable(dir, why);
  if (dir.parent != nullptr) dir.ignore = dir.parent->ignore;
  if (options_.filters.per_directory && !dir.failed) read_ignore_file(dir);
  if (!options_.dry_run) {
    // Owner rwx while the content is written; the real mode comes with
    // the final MKDIR.
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_mkdir(frame, id, MkdirMsg{dir.remote, (dir.mode | 0700) & 0777, dir.mtime_ns, 0});
    send_control(ControlRequest{Control::kMkdirBefore, &dir, {}, {}, {}, 0}, std::move(frame), id);
  }
  std::uint8_t flags = 0;
  if (options_.checksum) flags |= kFlagHashes;
  if (options_.archive.links) flags |= kFlagTargets;
  // Paced, a listing larger than a window pauses after the first: the
  // directory is then huge (tree_upload_huge.cpp).
  if (session.paced_agreed()) flags |= kFlagPaced;
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_list(frame, id, PathMsg{dir.remote}, flags);
  dir.list_id = id;
  send_control(ControlRequest{Control::kList, &dir, {}, {}, {}, 0}, std::move(frame), id);
  ++lists_in_flight_;
  if (!options_.link_dest.empty()) list_reference(session, dir);
}

bool TreeUploadJob::take_entries(Session& session, Dir& dir, EntriesMsg& message) {
  if (dir.huge) return true;  // what comes before the CANCEL's ERROR
  for (Entry& entry : message.entries) {
    // Only used to compare: a name that could not be ours is ignored.
    if (component_violation(entry.name, rules_)) continue;
    std::string name = entry.name;
    dir.remote_entries.emplace(std::move(name), std::move(entry));
  }
  if (message.paused) {
    // More than one window (PACED): the listing is not held, its files
    // are compared one STAT each (tree_upload_huge.cpp).
    become_huge(session, dir);
  }
  return true;
}

Feed TreeUploadJob::feed(Session&, Dir& dir) {
  // The entries are compared with the remote listing (and the reference's).
  if (!dir.listed || dir.reference_listing) return Feed::kWaiting;
  while (!dir.failed) {
    if (dir.next == dir.entries.size()) {
      if (dir.stream.at_end()) break;
      std::string why;
      dir.next = 0;
      if (!dir.stream.read(dir.entries, walk_window(), why)) directory_unreadable(dir, why);
      continue;
    }
    if (fed_enough()) return Feed::kBlocked;
    feed_entry(dir, dir.entries[dir.next++]);
  }
  if (deletes_ != nullptr && !dir.failed) {
    // A huge directory's remote names are checked against the local ones
    // by a listing of their own (the remote listing was not kept).
    if (dir.huge) {
      start_delete_pass(dir);
    } else {
      plan_deletions(dir);
    }
  }
  dir.entries = {};
  dir.remote_entries = {};
  dir.reference_entries = {};
  // Visited even after a failed read: each holds its parent.
  push_visits(dir.subdirs);
  dir.subdirs = {};
  return Feed::kDone;
}

void TreeUploadJob::feed_entry(Dir& dir, const LocalEntry& entry) {
  const std::string local = join_path(dir.local, entry.name);
  const std::string remote = join_path(dir.remote, entry.name);
  const std::string rel = join_path(dir.rel, entry.name);
  const mode_t type = entry.st.st_mode & S_IFMT;
  // An excluded directory is not entered: nothing below it is taken (and
  // its remote twin stays for --delete-excluded).
  if (options_.filters.excluded(rel, type == S_IFDIR, dir.ignore.get())) return;
  auto found = dir.remote_entries.find(entry.name);
  std::optional<Entry> theirs;
  if (found != dir.remote_entries.end()) {
    theirs = std::move(found->second);
    dir.remote_entries.erase(found);  // taken: never deleted
  }
  if (settled_.contains(local)) return;
  if (auto why = path_violation(remote, false, rules_)) {
    settled_.add(local);
    report_.failed(local,
                   Error{ErrorCode::BAD_PATH, {}, "name not allowed on the server: " + *why});
    return;
  }
  // A huge directory's files and links are compared with a STAT each
  // (tree_upload_huge.cpp); a subdirectory's own LIST tells what it holds.
  if (dir.huge && (type == S_IFREG || type == S_IFLNK))
    return stat_entry(dir, entry, local, remote);
  take_entry(dir, entry, local, remote, rel, theirs ? &*theirs : nullptr);
}

void TreeUploadJob::take_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                               const std::string& remote, const std::string& rel,
                               const Entry* their) {
  const mode_t type = entry.st.st_mode & S_IFMT;
  if (type == S_IFDIR) {
    dir.subdirs.push_back(Visit{&dir, entry.name, local, remote, rel});
    ++dir.pending;
  } else if (type == S_IFREG && plan_->hard_links && entry.st.st_nlink > 1) {
    hard_link_entry(dir, entry, local, remote, their);
  } else if (type == S_IFREG) {
    file_entry(dir, entry, local, remote, their);
  } else if (type == S_IFLNK) {
    link_entry(dir, entry, local, remote, rel, their);
  } else {
    report_.skipped(local, 0, special_kind(entry.st.st_mode), true);
  }
}

void TreeUploadJob::plan_deletions(const Dir& dir) {
  for (const auto& [name, entry] : dir.remote_entries) {
    plan_deletion(dir, name, entry.type == EntryType::kDirectory);
  }
}

void TreeUploadJob::plan_deletion(const Dir& dir, const std::string& name, bool directory) {
  const std::string rel = join_path(dir.rel, name);
  if (deletes_->protected_name(rel, directory, dir.ignore.get())) return;
  const std::string remote = join_path(dir.remote, name);
  deletes_->add(Deletion{remote, rel, remote, directory});
  deletes_->remember_times(dir.remote, DeletePlan::DirTimes{dir.mode, dir.mtime_ns});
}

void TreeUploadJob::read_ignore_file(Dir& dir) {
  std::string text, why;
  bool missing = false;
  const std::string local = join_path(dir.local, kIgnoreFileName);
  std::optional<std::vector<FilterRule>> rules;
  if (read_small_file_at(dir.fd.get(), kIgnoreFileName, kMaxFilterFileBytes, text, missing, why)) {
    rules = parse_filter_file(text, why);
  } else if (missing) {
    return;
  }
  if (!rules) {
    report_.failed(local, Error{ErrorCode::LOCAL_FILE, {}, "bad ignore file: " + why});
    dir.failed = true;
    return;
  }
  auto layer = std::make_shared<FilterLayer>();
  layer->parent = dir.ignore;
  layer->directory = dir.rel;
  layer->rules = std::move(*rules);
  dir.ignore = std::move(layer);
}

void TreeUploadJob::release(Session& session, Dir& dir) {
  if (--dir.pending > 0) return;
  if (dir.closing || dir.failed || options_.dry_run) return directory_done(session, dir);
  // Everything below is done: now the directory's own mode and mtime.
  dir.closing = true;
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_mkdir(frame, id, MkdirMsg{dir.remote, dir.mode & 0777, dir.mtime_ns, kMkdirSetMtime});
  send_control(ControlRequest{Control::kMkdirAfter, &dir, {}, {}, {}, 0}, std::move(frame), id);
}

}  // namespace upload_tree

using upload_tree::Root;
using upload_tree::TreeUploadJob;

int run_tree_upload(const UploadOptions& options, TransferReport& report) {
  std::vector<Root> roots;
  for (const std::string& arg : options.files) {
    std::string local = arg;
    while (local.size() > 1 && local.back() == '/') local.pop_back();
    const bool contents = arg.size() > 1 && arg.back() == '/';
    const std::string base =
        local.substr(local.rfind('/') == std::string::npos ? 0 : local.rfind('/') + 1);
    const bool into = contents || base == "." || base == ".." || local == "/";
    roots.push_back(
        Root{local, into ? options.remote.path : remote_path_for(options.remote.path, local)});
  }
  DeletePlan plan(options.filters, options.deletes);
  DeletePlan* deletes = options.deletes.enabled ? &plan : nullptr;
  TreeWork work(report, [&](SettledPaths& settled, std::vector<DeferredFile>& deferred) {
    TreeUploadJob job(roots, options, report, settled, deferred, deletes);
    return connect_and_run(options.remote.host, options.remote.port, job);
  });
  run_with_retries("ftsend", work, options.retries, report);
  if (deletes != nullptr) {
    report.deleting();
    // Deleting after a failure would leave the destination with less than
    // either tree: nothing is deleted unless every transfer succeeded.
    if (report.failed_so_far() || interrupted()) {
      report.deletions_skipped();
    } else if (!plan.empty()) {
      if (auto failure =
              run_remote_delete(options.remote, plan, options.deletes, options.dry_run, report)) {
        report.progress().clear();
        report_error("ftsend", {}, *failure);
        report.connection_failed(*failure);
      }
    }
  }
  return report.finish();
}

}  // namespace ft::client
