#include "client/transfer/tree_upload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "client/local/local_tree.hpp"
#include "client/net/interrupt.hpp"
#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/remote_delete.hpp"
#include "client/transfer/tree_archive.hpp"
#include "client/transfer/tree_walk.hpp"
#include "common/rules/filter_rules.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

// One argument of the command, as the walk starts from it.
struct Root {
  std::string local;   // as given, without trailing '/'
  std::string remote;  // where it goes
};

// A directory between its visit and its final MKDIR; `failed`: its MKDIR
// or LIST failed, so no final MKDIR.
struct Dir : TreeDirectory<Dir> {
  std::uint32_t mode = 0755;
  std::int64_t mtime_ns = 0;
  DirectoryStream stream;               // read a window at a time as the walk needs
  std::vector<LocalEntry> entries;      // the window being fed
  std::size_t next = 0;                 // its first entry not fed yet
  std::vector<TreeVisit<Dir>> subdirs;  // visited once every entry is fed
  // The remote listing; a name leaves it once its local twin is fed, so
  // that what is left at the end is what --delete plans.
  std::unordered_map<std::string, Entry> remote_entries;
  bool closing = false;                       // the final MKDIR is on its way
  std::shared_ptr<const FilterLayer> ignore;  // the .ftignore rules in force here
  // --link-dest: the reference directory, its listing, and whether the
  // entries wait for that listing.
  std::string reference;
  std::unordered_map<std::string, Entry> reference_entries;
  bool reference_listing = false;
};

// A root's name is its whole path.
using Visit = TreeVisit<Dir>;

enum class Control {
  kList,
  kMkdirBefore,
  kMkdirAfter,
  kSymlink,
  kReferenceList,
  kLink,
  kHardlink,
  kAttrs
};
struct ControlRequest {
  Control kind;
  Dir* dir;            // null only for the ATTRS of a root directory
  std::string local;   // the symlink's (hard link's, ATTRS's, linked file's) local path
  std::string remote;  // its remote path (an ERROR may name it)
  std::string name;    // a linked file's name in `dir`, to send it if LINK fails
  std::uint64_t size = 0;
};

// A second name of a file whose first name is still on its way.
struct LinkWaiter {
  Dir* dir;
  LocalEntry entry;
  std::string local, remote;
};
struct Outgoing {
  std::uint32_t id;
  ControlRequest request;
  Bytes frame;
};

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

using UploadWalk = TreeWalk<Dir, Visit, UploadItem>;

class TreeUploadJob : public UploadWalk, private PutPipeline::Listener {
 public:
  TreeUploadJob(const std::vector<Root>& roots, const UploadOptions& options,
                TransferReport& report, SettledPaths& settled, std::vector<DeferredFile>& deferred,
                DeletePlan* deletes)
      : UploadWalk(report, settled, deferred),
        options_(options),
        deletes_(deletes),
        pipeline_(options.settings, report, *this, next_id_) {
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) {
      visits_.push_back(Visit{nullptr, it->local, it->local, it->remote, ""});
    }
  }

  void produce(Session& session) override {
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

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (pipeline_.owns(id)) return pipeline_.on_frame(session, frame);
    auto found = control_.find(id);
    if (found == control_.end()) return session.protocol_error(unexpected_frame(frame));
    if (found->second.kind == Control::kList)
      return on_list_reply(session, *found->second.dir, frame);
    if (found->second.kind == Control::kReferenceList) {
      return on_reference_reply(session, found, frame);
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
        break;
    }
    release(session, dir);
  }

  bool finished() const override {
    return walk_finished() && pipeline_.in_flight() == 0 && control_.empty() && outbox_.empty();
  }

 private:
  bool room() const override {
    return pipeline_.has_room() &&
           pipeline_.in_flight() + control_.size() < limits::kMaxRequestsInFlight;
  }

  void start(Session& session, UploadItem& item) override { pipeline_.start(session, item); }

  void send_held(Session& session) override { flush_outbox(session); }
  bool holding() const override { return !outbox_.empty(); }

  // Queues a MKDIR, LIST or SYMLINK; produce() sends it when the window
  // has room (a reply may free a slot only to have a new request fill it).
  void send_control(ControlRequest request, Bytes frame, std::uint32_t id) {
    ++request.dir->pending;
    outbox_.push_back(Outgoing{id, std::move(request), std::move(frame)});
  }

  void flush_outbox(Session& session) {
    while (!outbox_.empty() && room()) {
      Outgoing& out = outbox_.front();
      session.send(std::move(out.frame), out.id);
      control_.emplace(out.id, std::move(out.request));
      outbox_.pop_front();
    }
  }

  void visit_directory(Session& session, Visit visit) override {
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
      send_control(ControlRequest{Control::kMkdirBefore, &dir, {}, {}, {}, 0}, std::move(frame),
                   id);
    }
    std::uint8_t flags = 0;
    if (options_.checksum) flags |= kFlagHashes;
    if (options_.archive.links) flags |= kFlagTargets;
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_list(frame, id, PathMsg{dir.remote}, flags);
    send_control(ControlRequest{Control::kList, &dir, {}, {}, {}, 0}, std::move(frame), id);
    ++lists_in_flight_;
    if (!options_.link_dest.empty()) list_reference(dir);
  }

  // --link-dest: lists the directory of the reference tree that matches
  // this one (LINK needs a name that exists there unchanged), with hashes
  // for --checksum. The entries wait for it (walk_deferred).
  void list_reference(Dir& dir) {
    const std::string& top = options_.remote.path;
    const std::string below = top.empty()         ? dir.remote
                              : dir.remote == top ? std::string()
                                                  : dir.remote.substr(top.size() + 1);
    dir.reference = below.empty() ? options_.link_dest : join_path(options_.link_dest, below);
    dir.reference_listing = true;
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_list(frame, id, PathMsg{dir.reference}, options_.checksum ? kFlagHashes : 0);
    send_control(ControlRequest{Control::kReferenceList, &dir, {}, {}, {}, 0}, std::move(frame),
                 id);
  }

  void on_reference_reply(Session& session,
                          std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
                          const Frame& frame) {
    Dir& dir = *found->second.dir;
    if (frame.header.type == FrameType::kEntries) {
      auto message = decode_entries(frame);
      if (!message) return session.protocol_error("malformed ENTRIES");
      if (auto why = listing_overflow(dir.reference_entries.size(), message->entries.size())) {
        return session.protocol_error(*why);
      }
      for (Entry& entry : message->entries) {
        if (component_violation(entry.name)) continue;
        std::string name = entry.name;
        dir.reference_entries.emplace(std::move(name), std::move(entry));
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

  // --link-dest: a file that differs from the destination but matches the
  // reference (size and mtime, or the content hash with --checksum) is
  // hard-linked by the server (LINK) instead of sent. False if it must be
  // sent.
  bool link_instead(Dir& dir, const LocalEntry& entry, const std::string& local,
                    const std::string& remote) {
    auto found = dir.reference_entries.find(entry.name);
    if (found == dir.reference_entries.end() || found->second.type != EntryType::kFile) {
      return false;
    }
    const Entry& reference = found->second;
    const auto size = static_cast<std::uint64_t>(entry.st.st_size);
    if (reference.size != size) return false;
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
          msg.content_hash != reference.content_hash) {
        return false;
      }
      msg.link_flags = kLinkCheckHash;
    } else if (reference.mtime_ns != msg.mtime_ns) {
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

  bool take_entries(Session&, Dir& dir, EntriesMsg& message) override {
    for (Entry& entry : message.entries) {
      // Only used to compare: a name that could not be ours is ignored.
      if (component_violation(entry.name, rules_)) continue;
      std::string name = entry.name;
      dir.remote_entries.emplace(std::move(name), std::move(entry));
    }
    return true;
  }

  void list_failed(Dir& dir, const Error& error) override {
    // NOT_FOUND: the directory is new (its MKDIR was not done yet, or this
    // is a dry run): every file goes.
    if (error.code != ErrorCode::NOT_FOUND) {
      report_.failed(dir.local, error, dir.remote);
      dir.failed = true;
    }
  }

  void directory_unreadable(Dir& dir, const std::string& why) {
    report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, "cannot read directory: " + why});
    dir.failed = true;
  }

  void list_answered(std::uint32_t id) override { control_.erase(id); }

  Feed feed(Session&, Dir& dir) override {
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
    if (deletes_ != nullptr && !dir.failed) plan_deletions(dir);
    dir.entries = {};
    dir.remote_entries = {};
    dir.reference_entries = {};
    // Visited even after a failed read: each holds its parent.
    push_visits(dir.subdirs);
    dir.subdirs = {};
    return Feed::kDone;
  }

  void feed_entry(Dir& dir, const LocalEntry& entry) {
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
    const Entry* their = theirs ? &*theirs : nullptr;
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

  // --delete: the remote names of this directory that the walk does not
  // send (absent here, or excluded with --delete-excluded: the names left
  // in the listing once every entry was fed) join the plan, unless the
  // filters protect them. Only a directory listed on both sides gets here
  // (a failed one is never planned).
  void plan_deletions(const Dir& dir) {
    for (const auto& [name, entry] : dir.remote_entries) {
      const bool directory = entry.type == EntryType::kDirectory;
      const std::string rel = join_path(dir.rel, name);
      if (deletes_->protected_name(rel, directory, dir.ignore.get())) continue;
      const std::string remote = join_path(dir.remote, name);
      deletes_->add(Deletion{remote, rel, remote, directory});
    }
  }

  // Reads the directory's .ftignore (if any) as a new layer of rules over
  // its parent's. An unreadable or bad one fails the directory: sending it
  // with rules the user did not mean would copy what they wanted left out.
  void read_ignore_file(Dir& dir) {
    std::string text, why;
    bool missing = false;
    const std::string local = join_path(dir.local, kIgnoreFileName);
    std::optional<std::vector<FilterRule>> rules;
    if (read_small_file_at(dir.fd.get(), kIgnoreFileName, kMaxFilterFileBytes, text, missing,
                           why)) {
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

  // What became of a file entry.
  enum class FileOutcome { kQueued, kSkipped, kFailed };

  FileOutcome file_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                         const std::string& remote, const Entry* theirs) {
    const auto size = static_cast<std::uint64_t>(entry.st.st_size);
    report_.progress().add_total(1, size);
    if (theirs != nullptr && theirs->type == EntryType::kFile) {
      if (options_.ignore_existing) {
        report_.skipped(local, size, "exists", false);
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
          send_attrs(&dir, dir.fd.get(), local, remote);
          return FileOutcome::kSkipped;
        }
      } else if (theirs->size == size && theirs->mtime_ns == mtime_ns_of(entry.st)) {
        report_.skipped(local, size, "unchanged", false);
        send_attrs(&dir, dir.fd.get(), local, remote);
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

  // A file with several names (ARCHIVE): its first name in this transfer
  // goes as a file, the others as HARDLINKs to it once it is there.
  void hard_link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
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
        group.state =
            outcome == FileOutcome::kSkipped ? Links::State::kDone : Links::State::kFailed;
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

  void send_hardlink(Dir& dir, const std::string& local, const std::string& remote,
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

  // The ATTRS of `local` (named by its last component in `dir_fd`), if
  // the plan sets any; it keeps `dir` (if any) pending until answered.
  void send_attrs(Dir* dir, int dir_fd, const std::string& local, const std::string& remote) {
    if (!plan_->attrs() || options_.dry_run || remote.empty()) return;
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
      return;
    }
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_attrs(frame, id, *attrs);
    ControlRequest request{Control::kAttrs, dir, local, remote, {}, 0};
    if (dir != nullptr) ++dir->pending;
    outbox_.push_back(Outgoing{id, std::move(request), std::move(frame)});
  }

  // A directory's own ATTRS, once its final MKDIR is done: its parent (if
  // any) waits for it.
  void send_directory_attrs(Dir& dir) {
    if (!plan_->attrs() || dir.remote.empty()) return;
    if (dir.parent != nullptr) {
      return send_attrs(dir.parent, dir.parent->fd.get(), dir.local, dir.remote);
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
    outbox_.push_back(
        Outgoing{id, ControlRequest{Control::kAttrs, nullptr, dir.local, dir.remote, {}, 0},
                 std::move(frame)});
  }

  void enqueue_file(Dir* dir, const std::string& name, const std::string& local,
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

  void link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                  const std::string& remote, const std::string& rel, const Entry* theirs) {
    if (!options_.archive.links) return report_.skipped(local, 0, "symlink", true);
    std::string target(static_cast<std::size_t>(entry.st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(dir.fd.get(), entry.name.c_str(), target.data(), target.size());
    if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
      settled_.add(local);
      return report_.failed(
          local, Error{ErrorCode::LOCAL_FILE,
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
    if (theirs != nullptr && theirs->type == EntryType::kSymlink && theirs->target == target) {
      return report_.skipped(local, 0, "unchanged", false);
    }
    if (options_.dry_run) return report_.created("symlink", local);
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_symlink(frame, id, SymlinkMsg{remote, target, mtime_ns_of(entry.st)});
    send_control(ControlRequest{Control::kSymlink, &dir, local, remote, {}, 0}, std::move(frame),
                 id);
  }

  void on_settled(Session& session, UploadItem& item) override {
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

  void release(Session& session, Dir& dir) override {
    if (--dir.pending > 0) return;
    if (dir.closing || dir.failed || options_.dry_run) return directory_done(session, dir);
    // Everything below is done: now the directory's own mode and mtime.
    dir.closing = true;
    const std::uint32_t id = next_id_++;
    Bytes frame;
    encode_mkdir(frame, id, MkdirMsg{dir.remote, dir.mode & 0777, dir.mtime_ns, kMkdirSetMtime});
    send_control(ControlRequest{Control::kMkdirAfter, &dir, {}, {}, {}, 0}, std::move(frame), id);
  }

  const UploadOptions& options_;
  DeletePlan* deletes_;              // --delete: where the walk gathers what to delete
  std::optional<ArchivePlan> plan_;  // once the server's hello is in
  NameRules rules_ = NameRules::kPortable;
  OwnerNames names_;
  HardLinks<LinkWaiter> hard_links_;
  PutPipeline pipeline_;
  std::unordered_map<std::uint32_t, ControlRequest> control_;  // sent, awaiting the reply
  std::deque<Outgoing> outbox_;                                // not sent yet
};

}  // namespace

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
