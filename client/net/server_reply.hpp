#pragma once
// What the clients check in a server's replies before using them, beyond
// what the decoder already refuses (docs/protocol.md, sections 4 to 7): a
// size no file can have, a listing longer than any directory, an ERROR
// whose code never travels on the wire or that is about another path than
// the request's, and a STAT answered about another name. A reply failing
// one of these comes from a broken or hostile server: the caller treats it
// as a protocol error (exit status 8). Every peer string put into a
// message here has gone through printable().
#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "common/rules/errors.hpp"
#include "common/rules/path_rules.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

/// The largest size a GET_READY or a listed file may declare: what an
/// off_t can hold. Anything above cannot be written to a local file.
inline constexpr std::uint64_t kMaxFileSize =
    static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
/// The most entries one LIST may answer over all its ENTRIES frames. The
/// protocol bounds each frame (section 8) but not their number; a server
/// going on beyond this is refused before the listing exhausts memory.
inline constexpr std::size_t kMaxListedEntries = 1'000'000;

/// Why `size`, declared by the server for a file, is absurd; nullopt if not.
inline std::optional<std::string> absurd_size(std::uint64_t size) {
  if (size <= kMaxFileSize) return std::nullopt;
  return "the server declared an absurd size of " + std::to_string(size) + " bytes";
}

/// Why a listing that already holds `held` entries may not take `more`
/// others; nullopt if it may.
inline std::optional<std::string> listing_overflow(std::size_t held, std::size_t more) {
  if (more <= kMaxListedEntries && held <= kMaxListedEntries - more) return std::nullopt;
  return "the server listed more than " + std::to_string(kMaxListedEntries) +
         " entries in one directory";
}

/// Why an ERROR in reply to a request about `requested` breaks the
/// protocol: a code that never travels on the wire (0, or 1000 and up,
/// the local-only range of the error table), or a path other than the request's (an ERROR names the
/// request's path or none). Codes unknown to this client but below the local range come from a
/// newer server and are accepted.
inline std::optional<std::string> error_reply_violation(const ErrorMsg& error,
                                                        std::string_view requested) {
  if (error.code == 0 || error.code >= 1000) {
    return "the server sent an ERROR with code " + std::to_string(error.code) +
           ", which no server may send";
  }
  if (!error.path.empty() && error.path != requested) {
    return "the server sent an ERROR about \"" + printable(error.path) +
           "\" in reply to a request for \"" + printable(requested) + "\"";
  }
  return std::nullopt;
}

/// The failure an ERROR reply reports, about `path`: its code and its
/// message made printable (the code's default message when empty).
inline Error error_from_reply(const ErrorMsg& error, std::string path) {
  const auto code = static_cast<ErrorCode>(error.code);
  return Error{
      code, std::move(path),
      error.message.empty() ? std::string(default_message(code)) : printable(error.message)};
}

/// An ERROR frame read and checked against the request it answers: every
/// client reply handler reads ERRORs through this, so uploads and downloads
/// refuse the same hostile codes and paths.
struct ErrorReply {
  Error failure;                         // meaningful only without a violation
  std::optional<std::string> violation;  // malformed, or see error_reply_violation()
};

/// Decodes `frame` (an ERROR) in reply to a request about `requested`; the
/// failure is reported about `path` (often the same, or "" for none).
inline ErrorReply read_error_reply(const Frame& frame, std::string_view requested,
                                   std::string path) {
  auto error = decode_error(frame.payload);
  if (!error) return ErrorReply{{}, std::string("malformed ERROR")};
  if (auto why = error_reply_violation(*error, requested)) return ErrorReply{{}, std::move(why)};
  return ErrorReply{error_from_reply(*error, std::move(path)), std::nullopt};
}

/// The message of the protocol error for a frame that has no place here:
/// "unexpected <TYPE> <where>" (e.g. "in reply to LIST").
inline std::string unexpected_frame(const Frame& frame, std::string_view where) {
  return "unexpected " + frame_type_name(std::uint8_t(frame.header.type)) + " " +
         std::string(where);
}

/// Same, for a frame whose request id is none of ours (or whose type that
/// request never gets): "unexpected <TYPE> for request <id>".
inline std::string unexpected_frame(const Frame& frame) {
  return unexpected_frame(frame, "for request " + std::to_string(frame.header.request_id));
}

/// Why `entry` cannot be the answer to a STAT of `requested`: its name must
/// be the last component of that path ("" for the root).
inline std::optional<std::string> stat_reply_violation(const Entry& entry,
                                                       std::string_view requested) {
  const auto slash = requested.rfind('/');
  const std::string_view name =
      slash == std::string_view::npos ? requested : requested.substr(slash + 1);
  if (entry.name == name) return std::nullopt;
  return "the server answered a STAT of \"" + printable(requested) + "\" about \"" +
         printable(entry.name) + "\"";
}

}  // namespace ft::client
