#pragma once
// The one error table of ft: wire code, exit status and message of every
// failure. It generates the enum, to_string(), the exit-status mapping and
// the tables in docs/ (a test checks the docs match). Codes are appended,
// never renumbered.
#include <cstdint>
#include <string>
#include <string_view>

namespace ft {

/// Process exit statuses of the client commands (and of ftserve for the
/// ones that apply). Documented in docs/exit-codes.md.
#define FT_EXIT_CODES(X)                                                                 \
  X(kSuccess, 0, "success")                                                              \
  X(kFailure, 1, "other failure (cancelled, internal error)")                            \
  X(kUsage, 2, "usage error (bad arguments or options)")                                 \
  X(kLocalFile, 3, "local file missing, unreadable or not writable")                     \
  X(kConnection, 4, "host unreachable, connection refused or lost")                      \
  X(kRemoteRefused, 5, "remote path refused (bad path, not found, denied)")              \
  X(kServerError, 6, "server-side error (disk full, I/O error, busy)")                   \
  X(kChecksum, 7, "checksum or size mismatch: data failed verification")                 \
  X(kProtocol, 8, "protocol error (incompatible or misbehaving peer)")                   \
  X(kPartial, 9, "partial transfer: some files failed, the others were transferred")     \
  X(kAuth, 10, "authentication failed (key refused, or the peer does not hold the key)") \
  X(kDeleteLimit, 11, "--max-delete reached: some deletions were not done")

enum class Exit : int {
#define FT_X(name, value, text) name = value,
  FT_EXIT_CODES(FT_X)
#undef FT_X
};

/// name, wire code (>= 1000: local only, never sent), exit status, message.
#define FT_ERRORS(X)                                                                      \
  X(PROTOCOL, 1, kProtocol, "the peer broke the protocol")                                \
  X(UNSUPPORTED_VERSION, 2, kProtocol, "no protocol version in common")                   \
  X(BAD_PATH, 3, kRemoteRefused, "path refused by the path rules")                        \
  X(NOT_FOUND, 4, kRemoteRefused, "no such file or directory")                            \
  X(NOT_A_DIRECTORY, 5, kRemoteRefused, "a path component is not a directory")            \
  X(IS_A_DIRECTORY, 6, kRemoteRefused, "the path is a directory")                         \
  X(PERMISSION_DENIED, 7, kRemoteRefused, "permission denied")                            \
  X(PATH_ESCAPES_ROOT, 8, kRemoteRefused, "the path leads outside the root")              \
  X(NO_SPACE, 9, kServerError, "no space left on the server")                             \
  X(IO_ERROR, 10, kServerError, "input/output error")                                     \
  X(CHECKSUM_MISMATCH, 11, kChecksum, "checksum mismatch")                                \
  X(SIZE_MISMATCH, 12, kChecksum, "size differs from the declared size")                  \
  X(TOO_MANY_REQUESTS, 13, kServerError, "too many requests in flight")                   \
  X(CANCELLED, 14, kFailure, "request cancelled")                                         \
  X(SHUTTING_DOWN, 15, kServerError, "server is shutting down")                           \
  X(BAD_OFFSET, 16, kProtocol, "offset beyond the end of the file")                       \
  X(BAD_CHUNK_SIZE, 17, kProtocol, "chunk size out of range")                             \
  X(INTERNAL, 18, kServerError, "internal server error")                                  \
  X(BUSY, 19, kServerError, "another upload of this file is in progress")                 \
  X(AUTH_REQUIRED, 20, kAuth, "this server requires a key (TLS with a PSK)")              \
  X(FORBIDDEN, 21, kRemoteRefused, "not allowed by this identity's rights")               \
  X(EXISTS, 22, kRemoteRefused, "file exists and may not be overwritten")                 \
  X(FILE_TOO_LARGE, 23, kRemoteRefused, "file larger than the server accepts")            \
  X(SERVER_FULL, 24, kServerError, "too many connections")                                \
  X(TOO_MANY_UPLOADS, 25, kServerError, "too many open uploads for this identity")        \
  X(TIMEOUT, 26, kConnection, "no progress for too long")                                 \
  X(FRAME_CHECK, 27, kConnection, "a frame was damaged in transit")                       \
  X(QUOTA_EXCEEDED, 28, kServerError, "over a quota of this identity")                    \
  X(NOT_EMPTY, 29, kRemoteRefused, "the directory is not empty")                          \
  X(REFERENCE_CHANGED, 30, kRemoteRefused, "the LINK reference is not the file expected") \
  X(USAGE, 1001, kUsage, "usage error")                                                   \
  X(LOCAL_FILE, 1002, kLocalFile, "local file error")                                     \
  X(CONNECT_FAILED, 1003, kConnection, "cannot connect")                                  \
  X(CONNECTION_LOST, 1004, kConnection, "connection lost")                                \
  X(SOURCE_CHANGED, 1005, kLocalFile, "source changed while being sent")                  \
  X(AUTH_FAILED, 1006, kAuth, "TLS handshake with the pre-shared key failed")             \
  X(KEY_FILE, 1007, kUsage, "key file missing, malformed or readable by others")          \
  X(UNKNOWN_HOST, 1008, kConnection, "host name does not resolve")                        \
  X(DELETE_LIMIT, 1009, kDeleteLimit, "more deletions than --max-delete allows")

enum class ErrorCode : std::uint16_t {
#define FT_X(name, code, exit, text) name = code,
  FT_ERRORS(FT_X)
#undef FT_X
};

/// "CHECKSUM_MISMATCH"; "UNKNOWN_<n>" for a code not in the table.
std::string to_string(ErrorCode code);
/// The table's human message for the code.
std::string_view default_message(ErrorCode code);
/// The exit status a client uses when a request fails with this code;
/// an unknown code (a newer server) maps to kServerError.
Exit exit_status_for(ErrorCode code);
/// True for codes that may travel in an ERROR frame.
bool is_wire_code(std::uint16_t code);
/// Maps an errno value from a failed file operation to the closest code.
ErrorCode error_from_errno(int err);

/// The markdown tables kept in docs/ (rows between the table markers).
std::string error_table_markdown();
std::string exit_table_markdown();

/// An error with its code, the path it concerns and a specific message.
struct Error {
  ErrorCode code = ErrorCode::INTERNAL;
  std::string path;
  std::string message;
};

}  // namespace ft
