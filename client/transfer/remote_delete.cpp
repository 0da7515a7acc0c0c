#include "client/transfer/remote_delete.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/tree_walk.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

/// Requests of the phase in flight at once: well inside the server's
/// window (limits::kMaxRequestsInFlight), as the tree walks keep theirs.
constexpr std::size_t kWindow = 256;
constexpr const char* kNoDelete =
    "the server does not support DELETE (capability DELETE); --delete needs a newer ftserve";

std::size_t depth_of(const std::string& path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

class RemoteDeleteJob final : public SessionHandler {
 public:
  RemoteDeleteJob(DeletePlan& plan, const DeleteOptions& options, bool dry_run,
                  TransferReport& report)
      : plan_(plan), options_(options), dry_run_(dry_run), report_(report) {}

  void produce(Session& session) override {
    if (!session.hello_received()) return;
    if (!session.delete_agreed() && !dry_run_) return session.fail(ErrorCode::PROTOCOL, kNoDelete);
    if (phase_ == Phase::kExpand) expand(session);
    if (phase_ == Phase::kDelete) send_deletes(session);
    if (phase_ == Phase::kTimes) send_times(session);
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (auto list = lists_.find(id); list != lists_.end()) return on_list(session, list, frame);
    if (auto times = times_sent_.find(id); times != times_sent_.end()) {
      return on_times(session, times, frame);
    }
    auto found = deletes_.find(id);
    if (found == deletes_.end()) return session.protocol_error(unexpected_frame(frame));
    const Deletion deletion = std::move(found->second);
    deletes_.erase(found);
    if (frame.header.type == FrameType::kOk) {
      report_.deleted(deletion.shown, deletion.directory);
      lost_names_.insert(parent_of(deletion.path));
    } else if (frame.header.type == FrameType::kError) {
      ErrorReply reply = read_error_reply(frame, deletion.path, {});
      if (reply.violation) return session.protocol_error(*reply.violation);
      if (reply.failure.code == ErrorCode::NOT_FOUND) return;  // gone already: as wished
      report_.failed(deletion.shown, reply.failure);
      // The same refusal awaits every other DELETE: none is sent.
      if (reply.failure.code == ErrorCode::FORBIDDEN) refused_ = true;
    } else {
      return session.protocol_error(unexpected_frame(frame, "in reply to DELETE"));
    }
  }

  bool finished() const override {
    return phase_ == Phase::kDone && deletes_.empty() && times_sent_.empty();
  }

 private:
  enum class Phase { kExpand, kDelete, kTimes, kDone };
  struct Listing {
    Deletion dir;
    std::size_t entries = 0;
  };

  void expand(Session& session) {
    while (lists_.size() < kWindow) {
      auto dir = plan_.next_to_expand();
      if (!dir) break;
      const std::uint32_t id = next_id_++;
      Bytes frame;
      encode_list(frame, id, PathMsg{dir->path});
      session.send(std::move(frame), id);
      lists_.emplace(id, Listing{std::move(*dir), 0});
    }
    if (!lists_.empty()) return;
    // Everything is known: the order, the cut, and in a dry run the end.
    for (const std::string& kept : plan_.kept()) {
      report_.note("kept " + printable(kept) + ": it holds excluded names");
    }
    queue_ = plan_.ordered();
    report_.deletions_over_limit(apply_max_delete(queue_, options_.max), options_.max);
    if (dry_run_) {
      for (const Deletion& deletion : queue_) report_.deleted(deletion.shown, deletion.directory);
      queue_.clear();
    }
    phase_ = Phase::kDelete;
  }

  void on_list(Session& session, std::unordered_map<std::uint32_t, Listing>::iterator at,
               const Frame& frame) {
    Listing& listing = at->second;
    if (frame.header.type == FrameType::kEntries) {
      auto message = decode_entries(frame);
      if (!message) return session.protocol_error("malformed ENTRIES");
      if (auto why = listing_overflow(listing.entries, message->entries.size())) {
        return session.protocol_error(*why);
      }
      listing.entries += message->entries.size();
      for (const Entry& entry : message->entries) {
        if (auto why = component_violation(entry.name)) {
          return session.protocol_error("the server sent an invalid name: " + *why);
        }
        plan_.add_inside(listing.dir, entry.name, entry.type == EntryType::kDirectory);
      }
      if (message->more) return;
    } else if (frame.header.type == FrameType::kError) {
      ErrorReply reply = read_error_reply(frame, listing.dir.path, {});
      if (reply.violation) return session.protocol_error(*reply.violation);
      if (reply.failure.code != ErrorCode::NOT_FOUND) {
        report_.failed(listing.dir.shown, reply.failure);
        plan_.keep(listing.dir);
      }
    } else {
      return session.protocol_error(unexpected_frame(frame, "in reply to LIST"));
    }
    lists_.erase(at);
  }

  void send_deletes(Session& session) {
    while (next_ < queue_.size() && deletes_.size() < kWindow && !refused_) {
      const Deletion& deletion = queue_[next_];
      // A directory waits until everything deeper has answered: its
      // content must be gone before it can be.
      if (deletion.directory && !deletes_.empty() && depth_of(deletion.path) < sending_depth_) {
        return;
      }
      if (deletion.directory) sending_depth_ = depth_of(deletion.path);
      const std::uint32_t id = next_id_++;
      Bytes frame;
      encode_delete(frame, id, DeleteMsg{deletion.path, 0});
      session.send(std::move(frame), id);
      deletes_.emplace(id, deletion);
      ++next_;
    }
    if (next_ == queue_.size() || refused_) phase_ = Phase::kTimes;
  }

  // Once every DELETE has answered, each directory that lost names gets
  // its mode and mtime again with the MKDIR SET_MTIME the walk sent it
  // (protocol section 5.5): deleting changed its mtime.
  void send_times(Session& session) {
    if (!deletes_.empty()) return;
    while (!lost_names_.empty() && times_sent_.size() < kWindow) {
      const std::string path = lost_names_.extract(lost_names_.begin()).value();
      const DeletePlan::DirTimes* times = plan_.times_of(path);
      // Not for the server's root, nor for a directory the walk did not
      // visit (one deleted inside a deleted directory).
      if (times == nullptr || path.empty()) continue;
      const std::uint32_t id = next_id_++;
      Bytes frame;
      encode_mkdir(frame, id, MkdirMsg{path, times->mode & 0777, times->mtime_ns, kMkdirSetMtime});
      session.send(std::move(frame), id);
      times_sent_.emplace(id, path);
    }
    if (lost_names_.empty()) phase_ = Phase::kDone;
  }

  void on_times(Session& session, std::unordered_map<std::uint32_t, std::string>::iterator at,
                Frame& frame) {
    const std::string path = std::move(at->second);
    times_sent_.erase(at);
    if (frame.header.type == FrameType::kOk) return;
    if (frame.header.type != FrameType::kError) {
      return session.protocol_error(unexpected_frame(frame, "in reply to MKDIR"));
    }
    ErrorReply reply = read_error_reply(frame, path, {});
    if (reply.violation) return session.protocol_error(*reply.violation);
    if (reply.failure.code == ErrorCode::NOT_FOUND) return;  // gone meanwhile
    report_.failed(path, reply.failure);
  }

  DeletePlan& plan_;
  const DeleteOptions& options_;
  bool dry_run_;
  TransferReport& report_;
  Phase phase_ = Phase::kExpand;
  std::uint32_t next_id_ = 1;
  std::unordered_map<std::uint32_t, Listing> lists_;
  std::unordered_map<std::uint32_t, Deletion> deletes_;
  std::vector<Deletion> queue_;
  std::size_t next_ = 0;
  std::set<std::string> lost_names_;  // directories a DELETE took a name from
  std::unordered_map<std::uint32_t, std::string> times_sent_;
  std::size_t sending_depth_ = static_cast<std::size_t>(-1);
  bool refused_ = false;
};

}  // namespace

std::optional<Error> run_remote_delete(const RemoteSpec& remote, DeletePlan& plan,
                                       const DeleteOptions& options, bool dry_run,
                                       TransferReport& report) {
  RemoteDeleteJob job(plan, options, dry_run, report);
  return connect_and_run(remote.host, remote.port, job);
}

}  // namespace ft::client
