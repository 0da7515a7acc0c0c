#pragma once
// How a client command talks to its user on stderr, and the statuses it ends
// with: shared by the command line (client/cli/) and the engine, which
// reports failures as they happen. No argument parsing here.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rules/errors.hpp"

namespace ft::client {

/// How much a command prints on success (errors are always printed).
enum class Verbosity { kQuiet, kNormal, kVerbose };

/// What ftsend and ftget add to the verbosity: --json, --progress, --stats
/// and -h/--human-readable.
struct OutputFlags {
  bool json = false;
  bool progress = false;
  bool stats = false;
  bool human_readable = false;
};

/// True if the progress line should be drawn: --progress, or stderr is a
/// terminal and neither -q nor --json was given.
bool wants_progress(const OutputFlags& flags, Verbosity verbosity);

/// Prints "<program>: <subject>: <message> (<CODE>)" to stderr. The subject
/// is left out when empty and the code when it is local only (not a wire
/// code). Peer-supplied text must already have gone through printable().
void report_error(std::string_view program, std::string_view subject, const Error& error);
/// Prints "<program>: <message>" to stderr (usage errors and the like).
void report_message(std::string_view program, std::string_view message);

/// The exit status of a plain FILE... run: 0 if no file failed, else the
/// status of the first failure in argument order.
int exit_status_of(const std::vector<std::optional<Error>>& failures);

/// strerror(err) as a string.
std::string errno_message(int err);

}  // namespace ft::client
