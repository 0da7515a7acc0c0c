#include "listing.hpp"

#include <iostream>
#include <optional>

#include "cli_common.hpp"
#include "messages.hpp"
#include "path_rules.hpp"
#include "session.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftls";
constexpr std::uint32_t kListId = 1;
constexpr std::uint32_t kStatId = 2;

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

// LIST the path; if the server says it is not a directory, STAT it instead
// and show that one entry, like `ls FILE`.
class ListJob : public SessionHandler {
 public:
  explicit ListJob(std::string path) : path_(std::move(path)) {}

  void produce(Session& session) override {
    if (sent_list_) return;
    Bytes frame;
    encode_list(frame, kListId, PathMsg{path_});
    session.send(std::move(frame), kListId);
    sent_list_ = true;
  }

  void on_frame(Session& session, Frame& frame) override {
    const std::uint32_t id = frame.header.request_id;
    if (done_ || id != current_id_) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " for request " + std::to_string(id));
    }
    if (frame.header.type == FrameType::kError) return on_error(session, frame);
    if (frame.header.type != FrameType::kEntries) {
      return session.protocol_error("unexpected " +
                                    frame_type_name(std::uint8_t(frame.header.type)) +
                                    " in reply to " + (id == kListId ? "LIST" : "STAT"));
    }
    auto message = decode_entries(frame);
    if (!message) return session.protocol_error("malformed ENTRIES");
    for (Entry& entry : message->entries) {
      if (auto why = entry_name_violation(entry.name)) {
        return session.protocol_error("server sent an invalid name \"" + printable(entry.name) +
                                      "\": " + *why);
      }
      entries_.push_back(std::move(entry));
    }
    if (id == kStatId && (message->more || entries_.size() != 1)) {
      return session.protocol_error("STAT must answer exactly one entry");
    }
    if (!message->more) done_ = true;
  }

  bool finished() const override { return done_; }

  const std::vector<Entry>& entries() const { return entries_; }
  const std::optional<Error>& failure() const { return failure_; }

 private:
  void on_error(Session& session, const Frame& frame) {
    auto error = decode_error(frame.payload);
    if (!error) return session.protocol_error("malformed ERROR");
    auto code = static_cast<ErrorCode>(error->code);
    if (current_id_ == kListId && code == ErrorCode::NOT_A_DIRECTORY && !path_.empty() &&
        entries_.empty()) {
      current_id_ = kStatId;
      Bytes stat;
      encode_stat(stat, kStatId, PathMsg{path_});
      session.send(std::move(stat), kStatId);
      return;
    }
    std::string message =
        error->message.empty() ? std::string(default_message(code)) : printable(error->message);
    failure_ = Error{code, path_, message};
    done_ = true;
  }

  std::string path_;
  bool sent_list_ = false;
  bool done_ = false;
  std::uint32_t current_id_ = kListId;
  std::vector<Entry> entries_;
  std::optional<Error> failure_;
};

}  // namespace

int run_list(const ListOptions& options) {
  const std::string where = host_port_text(options.remote.host, options.remote.port);
  std::string why;
  auto connection = Connection::open(options.remote.host, options.remote.port,
                                     std::chrono::milliseconds(kConnectTimeout), why);
  if (!connection) {
    report_error(kProgram, {},
                 Error{ErrorCode::CONNECT_FAILED, {}, "cannot connect to " + where + ": " + why});
    return static_cast<int>(Exit::kConnection);
  }
  Session session(std::move(*connection));
  ListJob job(options.remote.path);
  if (auto failure = session.run(job)) {
    report_error(kProgram, {}, *failure);
    return static_cast<int>(exit_status_for(failure->code));
  }
  if (job.failure()) {
    const std::string subject = options.remote.path.empty() ? "/" : printable(options.remote.path);
    report_error(kProgram, subject, *job.failure());
    return static_cast<int>(exit_status_for(job.failure()->code));
  }
  std::cout << format_entries(job.entries(), options.format) << std::flush;
  return std::cout ? 0 : static_cast<int>(Exit::kFailure);
}

}  // namespace ft::client
