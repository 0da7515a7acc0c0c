#include "client/report/console.hpp"

#include <unistd.h>

#include <cstring>
#include <iostream>

namespace ft::client {

bool wants_progress(const OutputFlags& flags, Verbosity verbosity) {
  if (flags.progress) return true;
  return verbosity != Verbosity::kQuiet && ::isatty(STDERR_FILENO) == 1;
}

void report_error(std::string_view program, std::string_view subject, const Error& error) {
  std::string line(program);
  line += ": ";
  if (!subject.empty()) {
    line += subject;
    line += ": ";
  }
  line += error.message.empty() ? std::string(default_message(error.code)) : error.message;
  // Local-only codes (1000 and up) are not shown: they name no wire error.
  // Unknown codes from a newer server are shown as UNKNOWN_<n>.
  if (static_cast<std::uint16_t>(error.code) < 1000) {
    line += " (" + to_string(error.code) + ")";
  }
  line += '\n';
  std::cerr << line << std::flush;
}

void report_message(std::string_view program, std::string_view message) {
  std::cerr << program << ": " << message << '\n' << std::flush;
}

int exit_status_of(const std::vector<std::optional<Error>>& failures) {
  for (const auto& failure : failures) {
    if (failure) return static_cast<int>(exit_status_for(failure->code));
  }
  return static_cast<int>(Exit::kSuccess);
}

std::string errno_message(int err) {
  return std::strerror(err);
}

}  // namespace ft::client
