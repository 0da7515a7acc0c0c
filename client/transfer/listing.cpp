#include "client/transfer/listing.hpp"

#include <algorithm>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <unordered_map>

#include "client/net/server_reply.hpp"
#include "client/net/session.hpp"
#include "client/report/console.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftls";

// Why an entry name from the server is unacceptable, or nullopt. Only what
// would make it something other than one name is refused ("", ".", "..",
// '/', NUL, over-long): a file on the server may well hold control bytes or
// invalid UTF-8 in its name, and printing goes through printable() anyway.
std::optional<std::string> entry_name_violation(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name == "." || name == "..") return std::string("'").append(name).append("'");
  if (name.size() > limits::kMaxComponentBytes) return "name too long";
  if (name.find('/') != std::string_view::npos) return "'/' inside a name";
  if (name.find('\0') != std::string_view::npos) return "NUL byte";
  return std::nullopt;
}

// Entries of a -l listing collected before its size column's width is
// fixed from them: a listing that ends sooner is aligned as a whole, a
// larger one streams out with that width (a wider size later overflows it).
constexpr std::size_t kWidthSample = 4096;
// Subdirectories whose LIST is sent ahead of the printing (-r).
constexpr std::size_t kListsAhead = 8;

struct Directory;

// A received entry not printed yet, and the listing of it when it is a
// directory whose LIST went out ahead.
struct Pending {
  Entry entry;
  std::unique_ptr<Directory> child;
};

// One directory's listing: what arrived and is not printed yet.
struct Directory {
  std::string path;      // remote path
  std::string relative;  // printed prefix ("" for the listed directory)
  std::deque<Pending> queue;
  std::size_t scanned = 0;   // queue[0, scanned) looked at for LISTs ahead
  std::size_t received = 0;  // entries its LIST answered so far
  bool complete = false;     // its last frame arrived
  bool stat = false;         // the top path is a file: a STAT replaced the LIST
  std::optional<Error> failure;
  std::optional<std::size_t> size_width;  // fixed once printing starts
};

// LIST the path; if the server says it is not a directory, STAT it instead
// and show that one entry, like `ls FILE`. Entries are printed as they
// arrive (a huge directory streams through in constant memory). With -r,
// every subdirectory is printed right after its own line, depth first;
// the LISTs of the next few subdirectories go out ahead (kListsAhead), so
// the walk does not wait a round trip per directory, and memory holds the
// unprinted rest of the directories on the current path and of those
// listed ahead.
class ListJob : public SessionHandler {
 public:
  explicit ListJob(const ListOptions& options) : options_(options) {}

  void produce(Session& session) override {
    if (!session.hello_received() || done_) return;
    if (!started_) {
      started_ = true;
      auto top = std::make_unique<Directory>();
      top->path = options_.remote.path;
      send_list(session, *top);
      stack_.push_back(std::move(top));
    }
    print(session);
    list_ahead(session);
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    auto found = requests_.find(id);
    if (found == requests_.end()) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " for request " + std::to_string(id));
    }
    Directory& dir = *found->second;
    if (frame.header.type == FrameType::kError) {
      requests_.erase(found);
      on_error(session, dir, frame);
    } else if (frame.header.type != FrameType::kEntries) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " in reply to " + (dir.stat ? "STAT" : "LIST"));
    } else if (!take_entries(session, dir, frame)) {
      return;
    } else if (dir.complete) {
      requests_.erase(found);
    }
    print(session);
  }

  bool finished() const override { return done_; }
  const std::optional<Error>& failure() const { return failure_; }

 private:
  // Checks and queues one ENTRIES frame; false if it broke the protocol.
  bool take_entries(Session& session, Directory& dir, const Frame& frame) {
    auto message = decode_entries(frame);
    if (!message) {
      session.protocol_error("malformed ENTRIES");
      return false;
    }
    for (Entry& entry : message->entries) {
      if (auto why = entry_name_violation(entry.name)) {
        session.protocol_error("server sent an invalid name \"" + printable(entry.name) +
                               "\": " + *why);
        return false;
      }
      if (auto why = absurd_size(entry.size)) {
        session.protocol_error(*why + " for \"" + printable(entry.name) + "\"");
        return false;
      }
    }
    if (dir.stat) {
      if (message->more || message->entries.size() != 1) {
        session.protocol_error("STAT must answer exactly one entry");
        return false;
      }
      if (auto why = stat_reply_violation(message->entries.front(), dir.path)) {
        session.protocol_error(*why);
        return false;
      }
    }
    // Printed entries are not held, but a listing that never ends is still
    // a broken server (and bounds what waits while a subdirectory prints).
    if (auto why = listing_overflow(dir.received, message->entries.size())) {
      session.protocol_error(*why);
      return false;
    }
    dir.received += message->entries.size();
    for (Entry& entry : message->entries) dir.queue.push_back(Pending{std::move(entry), nullptr});
    dir.complete = !message->more;
    return true;
  }

  // Prints what can be printed: the top directory's entries, entering each
  // subdirectory (-r) at its line, until one is waiting for its entries.
  void print(Session& session) {
    while (!stack_.empty()) {
      Directory& top = *stack_.back();
      if (!top.size_width) {
        const bool sample = top.complete || top.queue.size() >= kWidthSample;
        if (options_.format == ListFormat::kLong && !sample) return;
        std::size_t width = 1;
        if (options_.format == ListFormat::kLong) {
          for (const Pending& p : top.queue) {
            width = std::max(width, size_column(p.entry.size, options_.human_readable).size());
          }
        }
        top.size_width = width;
      }
      if (top.queue.empty()) {
        if (!top.complete) return;
        if (top.failure) {
          report_failure(*top.failure, top.path.empty() ? "/" : printable(top.path), top.path);
        }
        stack_.pop_back();
        continue;
      }
      Pending next = std::move(top.queue.front());
      top.queue.pop_front();
      if (top.scanned > 0) --top.scanned;
      const Entry& entry = next.entry;
      const std::string name = top.relative.empty() ? entry.name : top.relative + "/" + entry.name;
      std::cout << format_entry(entry, name, options_.format, *top.size_width,
                                options_.human_readable)
                << '\n';
      if (!options_.recursive || entry.type != EntryType::kDirectory) continue;
      const std::string path = child_path(top, entry);
      if (auto why = path_violation(path, false)) {
        // Too deep, too long or a name no request can carry: an endless
        // tree stops here, and the walk goes on beside it.
        report_failure(Error{ErrorCode::BAD_PATH, path, "cannot be listed: " + *why},
                       printable(path), path);
        continue;
      }
      if (next.child) {
        --listed_ahead_;
      } else {
        next.child = make_child(top, entry, name);
        send_list(session, *next.child);
      }
      stack_.push_back(std::move(next.child));
    }
    done_ = true;
  }

  // Sends the LISTs of the next subdirectories to print, the nearest
  // first, while fewer than kListsAhead are listed ahead.
  void list_ahead(Session& session) {
    if (!options_.recursive) return;
    for (auto level = stack_.rbegin(); level != stack_.rend(); ++level) {
      Directory& dir = **level;
      for (; dir.scanned < dir.queue.size(); ++dir.scanned) {
        if (listed_ahead_ >= kListsAhead) return;
        Pending& pending = dir.queue[dir.scanned];
        if (pending.entry.type != EntryType::kDirectory || pending.child) continue;
        if (path_violation(child_path(dir, pending.entry), false)) continue;
        const std::string name =
            dir.relative.empty() ? pending.entry.name : dir.relative + "/" + pending.entry.name;
        pending.child = make_child(dir, pending.entry, name);
        send_list(session, *pending.child);
        ++listed_ahead_;
      }
    }
  }

  static std::string child_path(const Directory& dir, const Entry& entry) {
    return dir.path.empty() ? entry.name : dir.path + "/" + entry.name;
  }

  static std::unique_ptr<Directory> make_child(const Directory& dir, const Entry& entry,
                                               const std::string& name) {
    auto child = std::make_unique<Directory>();
    child->path = child_path(dir, entry);
    child->relative = name;
    return child;
  }

  void send_list(Session& session, Directory& dir) {
    const std::uint32_t id = next_id_++;
    requests_.emplace(id, &dir);
    Bytes frame;
    // Link targets are shown by -l ("-> target") and --json ("target").
    const bool targets = options_.recursive || options_.format != ListFormat::kNames;
    encode_list(frame, id, PathMsg{dir.path}, targets && session.trees_agreed() ? kFlagTargets : 0);
    session.send(std::move(frame), id);
  }

  void on_error(Session& session, Directory& dir, const Frame& frame) {
    ErrorReply reply = read_error_reply(frame, dir.path, dir.path);
    if (reply.violation) return session.protocol_error(*reply.violation);
    const ErrorCode code = reply.failure.code;
    const bool top = dir.relative.empty();
    if (top && !dir.stat && dir.queue.empty() && code == ErrorCode::NOT_A_DIRECTORY &&
        !dir.path.empty()) {
      dir.stat = true;
      const std::uint32_t id = next_id_++;
      requests_.emplace(id, &dir);
      Bytes stat;
      encode_stat(stat, id, PathMsg{dir.path});
      session.send(std::move(stat), id);
      return;
    }
    // Reported when the printing reaches it: a subdirectory that cannot be
    // listed does not stop the walk.
    dir.failure = std::move(reply.failure);
    dir.complete = true;
  }

  // Prints the failure on stderr after what stdout holds so far (with
  // --json, also in the stream on stdout, so that a reader of stdout alone
  // knows the listing is incomplete); the first one decides the exit status.
  void report_failure(const Error& error, const std::string& printable_subject,
                      const std::string& path) {
    if (options_.format == ListFormat::kJson) std::cout << error_json(path, error) << '\n';
    std::cout << std::flush;
    report_error(kProgram, printable_subject, error);
    if (!failure_) failure_ = error;
  }

  const ListOptions& options_;
  bool started_ = false;
  bool done_ = false;
  std::uint32_t next_id_ = 1;
  std::vector<std::unique_ptr<Directory>> stack_;  // the directories on the current path
  std::unordered_map<std::uint32_t, Directory*> requests_;
  std::size_t listed_ahead_ = 0;  // LISTs sent for directories not entered yet
  std::optional<Error> failure_;
};

}  // namespace

int run_list(const ListOptions& options) {
  ListJob job(options);
  if (auto failure = connect_and_run(options.remote.host, options.remote.port, job)) {
    if (options.format == ListFormat::kJson) {
      std::cout << error_json(options.remote.path, *failure) << '\n';
    }
    std::cout << std::flush;
    report_error(kProgram, {}, *failure);
    return static_cast<int>(exit_status_for(failure->code));
  }
  std::cout << std::flush;
  if (job.failure()) return static_cast<int>(exit_status_for(job.failure()->code));
  return std::cout ? 0 : static_cast<int>(Exit::kFailure);
}

}  // namespace ft::client
