// ftsend -r into a huge remote directory (docs/client.md, "Memory and
// speed"): one whose LIST is larger than a window. Its listing is not
// held, since neither side lists in name order (each window of ftserve's
// is sorted, the windows are not, and the local walk goes in readdir
// order), so no merge of the two could stay within a window; instead:
// - the LIST is cancelled at its first pause, and each local file or link
//   is compared with its remote twin through a STAT of its own, pipelined
//   like the uploads (the quick check: type, size and mtime);
// - --delete lists the directory again, paced, once every local entry is
//   fed, and looks each remote name up in the local directory (fstatat);
// - --link-dest LINKs without looking (tree_upload_entries.cpp);
// - --checksum asks a remote file of the local one's size for its content
//   hash with a GET at offset = size (no data travels).
// The first window of a huge listing is hashed by the server for nothing
// with --checksum (its hash cache keeps the cost once).
// Memory is then a window of local entries, a window of remote ones for
// --delete, and the requests in flight, whatever the directory's size.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/tree_upload_job.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client::upload_tree {

void TreeUploadJob::become_huge(Session& session, Dir& dir) {
  dir.huge = true;
  dir.remote_entries = {};
  // The CANCEL's ERROR ends the LIST (list_failed() takes it as the end).
  Bytes cancel;
  encode_cancel(cancel, dir.list_id);
  session.send(std::move(cancel), dir.list_id);
}

void TreeUploadJob::stat_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                               const std::string& remote) {
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_stat(frame, id, PathMsg{remote});
  stat_entries_.emplace(id, entry);
  send_control(ControlRequest{Control::kStat, &dir, local, remote, entry.name, 0}, std::move(frame),
               id);
}

void TreeUploadJob::on_stat_reply(Session& session, ControlRequest request, const Frame& frame) {
  auto waiting = stat_entries_.find(frame.header.request_id);
  const LocalEntry entry = std::move(waiting->second);
  stat_entries_.erase(waiting);
  Dir& dir = *request.dir;
  std::optional<Entry> theirs;
  if (frame.header.type == FrameType::kEntries) {
    auto message = decode_entries(frame);
    if (!message || message->more || message->entries.size() != 1) {
      return session.protocol_error("STAT must answer exactly one entry");
    }
    if (auto why = stat_reply_violation(message->entries.front(), request.remote)) {
      return session.protocol_error(*why);
    }
    theirs = std::move(message->entries.front());
  } else if (frame.header.type == FrameType::kError) {
    ErrorReply reply = read_error_reply(frame, request.remote, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
    if (reply.failure.code != ErrorCode::NOT_FOUND) {
      // As a failed LIST fails its directory, a failed STAT fails its file.
      settled_.add(request.local);
      report_.failed(request.local, reply.failure);
      return release(session, dir);
    }
  } else {
    return session.protocol_error(unexpected_frame(frame, "in reply to STAT"));
  }
  if (options_.checksum && theirs && theirs->type == EntryType::kFile &&
      theirs->size == static_cast<std::uint64_t>(entry.st.st_size) && S_ISREG(entry.st.st_mode)) {
    // The GET keeps the directory pending in the STAT's place.
    probe_hash(dir, entry, request.local, request.remote, std::move(*theirs));
    return release(session, dir);
  }
  take_entry(dir, entry, request.local, request.remote, join_path(dir.rel, entry.name),
             theirs ? &*theirs : nullptr);
  release(session, dir);
}

void TreeUploadJob::probe_hash(Dir& dir, const LocalEntry& entry, const std::string& local,
                               const std::string& remote, Entry theirs) {
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_get(frame, id, GetMsg{remote, theirs.size});
  hash_probes_.emplace(id, HashProbe{entry, std::move(theirs), HashProbeReply(remote)});
  send_control(ControlRequest{Control::kHashProbe, &dir, local, remote, entry.name, 0},
               std::move(frame), id);
}

void TreeUploadJob::on_hash_probe_reply(
    Session& session, std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
    const Frame& frame) {
  const std::uint32_t id = found->first;
  auto probe = hash_probes_.find(id);
  HashProbe& asked = probe->second;
  // Which entry the comparison sees: theirs with its hash, theirs with
  // none (so it differs and the file is sent), or none at all.
  const HashProbeReply::Step answer = asked.reply.read(
      frame, [&](const GetReadyMsg& ready) { return ready.size == asked.theirs.size; });
  switch (answer) {
    case HashProbeReply::Step::kViolation:
      return session.protocol_error(asked.reply.violation());
    case HashProbeReply::Step::kCancel: {
      // Changed since the STAT: stop the GET (what follows is swallowed
      // until its last frame) and send the file.
      Bytes cancel;
      encode_cancel(cancel, id);
      session.send(std::move(cancel), id);
      return;
    }
    case HashProbeReply::Step::kPending:
      return;
    case HashProbeReply::Step::kHash:
      asked.theirs.content_hash = asked.reply.hash();
      break;
    case HashProbeReply::Step::kUnknown:
    case HashProbeReply::Step::kMissing:
      break;
  }
  const ControlRequest request = std::move(found->second);
  control_.erase(found);
  const HashProbe done = std::move(asked);
  hash_probes_.erase(probe);
  if (answer == HashProbeReply::Step::kUnknown) {
    // A hash no file has: the comparison fails and the file is sent.
    Entry unknown = done.theirs;
    unknown.content_hash = Hash128{};
    take_entry(*request.dir, done.entry, request.local, request.remote,
               join_path(request.dir->rel, done.entry.name), &unknown);
  } else {
    take_entry(*request.dir, done.entry, request.local, request.remote,
               join_path(request.dir->rel, done.entry.name),
               answer == HashProbeReply::Step::kMissing ? nullptr : &done.theirs);
  }
  release(session, *request.dir);
}

void TreeUploadJob::start_delete_pass(Dir& dir) {
  const std::uint32_t id = next_id_++;
  Bytes frame;
  encode_list(frame, id, PathMsg{dir.remote}, kFlagPaced);
  dir.delete_id = id;
  dir.since_next = 0;
  send_control(ControlRequest{Control::kDeletePass, &dir, {}, {}, {}, 0}, std::move(frame), id);
}

void TreeUploadJob::on_delete_pass_reply(
    Session& session, std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
    const Frame& frame) {
  Dir& dir = *found->second.dir;
  if (frame.header.type == FrameType::kEntries) {
    auto message = decode_entries(frame);
    if (!message) return session.protocol_error("malformed ENTRIES");
    // What comes between two NEXTs is bounded (a window), whatever the
    // directory's size.
    if (auto why = listing_overflow(dir.since_next, message->entries.size())) {
      return session.protocol_error(*why + " (" + printable(dir.remote) + ")");
    }
    dir.since_next += message->entries.size();
    for (const Entry& entry : message->entries) {
      if (component_violation(entry.name, rules_)) continue;
      // Kept when the local directory has the name and the walk took it
      // (feed_entry(): every name it does not exclude).
      struct stat st {};
      if (::fstatat(dir.fd.get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!options_.filters.excluded(join_path(dir.rel, entry.name), S_ISDIR(st.st_mode),
                                       dir.ignore.get())) {
          continue;
        }
      } else if (errno != ENOENT) {
        continue;  // cannot tell: never deleted
      }
      plan_deletion(dir, entry.name, entry.type == EntryType::kDirectory);
    }
    if (message->paused) {
      Bytes next;
      encode_next(next, dir.delete_id);
      session.send(std::move(next), dir.delete_id);
      dir.since_next = 0;
      return;
    }
    if (message->more) return;
  } else if (frame.header.type == FrameType::kError) {
    ErrorReply reply = read_error_reply(frame, dir.remote, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
    // Not listed again: nothing is deleted (a failure skips every deletion).
    report_.failed(dir.local, reply.failure, dir.remote);
  } else {
    return session.protocol_error(unexpected_frame(frame, "in reply to LIST"));
  }
  control_.erase(found);
  release(session, dir);
}

}  // namespace ft::client::upload_tree
