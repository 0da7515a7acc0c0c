#include "client/transfer/listing.hpp"

#include <iostream>
#include <optional>

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
  if (name == "." || name == "..") return "'" + std::string(name) + "'";
  if (name.size() > limits::kMaxComponentBytes) return "name too long";
  if (name.find('/') != std::string_view::npos) return "'/' inside a name";
  if (name.find('\0') != std::string_view::npos) return "NUL byte";
  return std::nullopt;
}

// One directory being printed: its entries and how far the walk got.
struct Level {
  std::string path;      // remote path
  std::string relative;  // printed prefix ("" for the listed directory)
  std::vector<Entry> entries;
  std::size_t next = 0;
  std::size_t size_width = 1;
};

// LIST the path; if the server says it is not a directory, STAT it instead
// and show that one entry, like `ls FILE`. With -r, every subdirectory is
// listed in turn, depth first, and printed as soon as it arrived, so memory
// holds only the directories on the current path.
class ListJob : public SessionHandler {
 public:
  explicit ListJob(const ListOptions& options) : options_(options) {}

  void produce(Session& session) override {
    if (!session.hello_received() || waiting_ || done_) return;
    if (!started_) {
      started_ = true;
      return send_list(session, options_.remote.path, "");
    }
    // Print the top directory's entries until one is a directory to enter.
    while (!stack_.empty()) {
      Level& top = stack_.back();
      if (top.next == top.entries.size()) {
        stack_.pop_back();
        continue;
      }
      const Entry& entry = top.entries[top.next++];
      const std::string name = top.relative.empty() ? entry.name : top.relative + "/" + entry.name;
      std::cout << format_entry(entry, name, options_.format, top.size_width,
                                options_.human_readable)
                << '\n';
      if (options_.recursive && entry.type == EntryType::kDirectory) {
        const std::string path = top.path.empty() ? entry.name : top.path + "/" + entry.name;
        if (auto why = path_violation(path, false)) {
          // Too deep, too long or a name no request can carry: an endless
          // tree stops here, and the walk goes on beside it.
          report_failure(Error{ErrorCode::BAD_PATH, path, "cannot be listed: " + *why},
                         printable(path), path);
          continue;
        }
        return send_list(session, path, name);
      }
    }
    done_ = true;
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (!waiting_ || id != current_id_) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " for request " + std::to_string(id));
    }
    if (frame.header.type == FrameType::kError) return on_error(session, frame);
    if (frame.header.type != FrameType::kEntries) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " in reply to " + (stat_ ? "STAT" : "LIST"));
    }
    auto message = decode_entries(frame);
    if (!message) return session.protocol_error("malformed ENTRIES");
    if (auto why = listing_overflow(pending_.entries.size(), message->entries.size())) {
      return session.protocol_error(*why);
    }
    for (Entry& entry : message->entries) {
      if (auto why = entry_name_violation(entry.name)) {
        return session.protocol_error("server sent an invalid name \"" + printable(entry.name) +
                                      "\": " + *why);
      }
      if (auto why = absurd_size(entry.size)) {
        return session.protocol_error(*why + " for \"" + printable(entry.name) + "\"");
      }
      pending_.entries.push_back(std::move(entry));
    }
    if (stat_ && (message->more || pending_.entries.size() != 1)) {
      return session.protocol_error("STAT must answer exactly one entry");
    }
    if (stat_) {
      if (auto why = stat_reply_violation(pending_.entries.front(), pending_.path)) {
        return session.protocol_error(*why);
      }
    }
    if (message->more) return;
    waiting_ = false;
    pending_.size_width = options_.format == ListFormat::kLong
                              ? size_column_width(pending_.entries, options_.human_readable)
                              : 1;
    stack_.push_back(std::move(pending_));
    pending_ = Level{};
  }

  bool finished() const override { return done_; }
  const std::optional<Error>& failure() const { return failure_; }

 private:
  void send_list(Session& session, const std::string& path, const std::string& relative) {
    pending_ = Level{path, relative, {}, 0, 1};
    current_id_ = next_id_++;
    stat_ = false;
    waiting_ = true;
    Bytes frame;
    // Link targets are shown by -l ("-> target") and --json ("target").
    const bool targets = options_.recursive || options_.format != ListFormat::kNames;
    encode_list(frame, current_id_, PathMsg{path},
                targets && session.trees_agreed() ? kFlagTargets : 0);
    session.send(std::move(frame), current_id_);
  }

  void on_error(Session& session, const Frame& frame) {
    ErrorReply reply = read_error_reply(frame, pending_.path, pending_.path);
    if (reply.violation) return session.protocol_error(*reply.violation);
    const ErrorCode code = reply.failure.code;
    const bool top = stack_.empty() && pending_.relative.empty();
    if (top && !stat_ && code == ErrorCode::NOT_A_DIRECTORY && !pending_.path.empty()) {
      stat_ = true;
      current_id_ = next_id_++;
      Bytes stat;
      encode_stat(stat, current_id_, PathMsg{pending_.path});
      session.send(std::move(stat), current_id_);
      return;
    }
    report_failure(std::move(reply.failure), pending_.path.empty() ? "/" : printable(pending_.path),
                   pending_.path);
    waiting_ = false;
    // A subdirectory that cannot be listed does not stop the walk.
    if (top) done_ = true;
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
  bool waiting_ = false;
  bool stat_ = false;
  bool done_ = false;
  std::uint32_t current_id_ = 0;
  std::uint32_t next_id_ = 1;
  Level pending_;
  std::vector<Level> stack_;
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
