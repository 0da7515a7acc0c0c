#include "client/report/transfer_report.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "client/report/entry_format.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

std::string dump(const nlohmann::ordered_json& j) {
  // Names are raw bytes from a file system or a server: replace invalid
  // UTF-8 rather than throw, and let no hidden control reach a terminal.
  return escape_hidden_controls(
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

}  // namespace

TransferReport::TransferReport(ReportOptions options)
    : options_(options), progress_(options.progress), start_(Clock::now()) {}

void TransferReport::human(std::string_view line, bool to_stdout) {
  progress_.clear();
  // With --json, stdout holds only JSON lines: human lines go to stderr.
  std::ostream& out = to_stdout && !options_.json ? std::cout : std::cerr;
  out << line << '\n' << std::flush;
}

void TransferReport::json_event(std::string_view event, std::string_view path, std::uint64_t bytes,
                                std::optional<double> seconds, std::string_view reason) {
  if (!options_.json) return;
  nlohmann::ordered_json j = {{"event", event}, {"path", path}, {"bytes", bytes}};
  if (seconds) j["seconds"] = *seconds;
  if (!reason.empty()) j["reason"] = reason;
  if (options_.dry_run) j["dry_run"] = true;
  std::cout << dump(j) << '\n' << std::flush;
}

void TransferReport::transferred(std::string_view path, std::uint64_t bytes, double seconds) {
  ++files_done_;
  bytes_done_ += bytes;
  progress_.add_done(1, options_.dry_run ? bytes : 0);
  const char* verb = options_.receiving ? "received" : "sent";
  json_event(verb, path, bytes, seconds, {});
  if (options_.dry_run && !quiet()) {
    human(std::string("would ") + (options_.receiving ? "receive " : "send ") + printable(path) +
              " " + std::to_string(bytes) + " bytes",
          true);
  } else if (verbose()) {
    human(std::string(verb) + " " + printable(path) + " " + std::to_string(bytes) + " bytes", true);
  }
}

void TransferReport::skipped(std::string_view path, std::uint64_t bytes, std::string_view reason,
                             bool loud) {
  ++files_skipped_;
  bytes_skipped_ += bytes;
  if (!loud) progress_.add_done(1, bytes);
  json_event("skipped", path, bytes, std::nullopt, reason);
  if (loud && !quiet()) {
    human(
        std::string(options_.program) + ": skipped " + std::string(reason) + " " + printable(path),
        false);
  } else if (verbose() || (options_.dry_run && !quiet())) {
    human("skipped " + printable(path) + " (" + std::string(reason) + ")", true);
  }
}

void TransferReport::created(std::string_view what, std::string_view path) {
  // A directory is only a container: a run whose every file failed is not
  // partial because the directories were made.
  if (what != "directory") ++other_successes_;
  if (verbose() || (options_.dry_run && !quiet() && what == "symlink")) {
    human(std::string(options_.dry_run ? "would create " : "created ") + std::string(what) + " " +
              printable(path),
          true);
  }
}

void TransferReport::count_failure(Exit status) {
  ++files_failed_;
  if (!first_failure_) first_failure_ = status;
}

void TransferReport::failed(std::string_view path, const Error& error, std::string_view subject) {
  count_failure(exit_status_for(error.code));
  progress_.clear();
  report_error(options_.program, printable(subject.empty() ? path : subject), error);
  std::string reason =
      error.message.empty() ? std::string(default_message(error.code)) : error.message;
  if (static_cast<std::uint16_t>(error.code) < 1000) reason += " (" + to_string(error.code) + ")";
  json_event("failed", path, 0, std::nullopt, reason);
}

void TransferReport::refused(std::string_view path, std::string_view target,
                             std::string_view reason) {
  // The link was not sent: the run is partial, as for a local file error.
  count_failure(Exit::kLocalFile);
  human(std::string(options_.program) + ": refused symlink " + printable(path) + " -> " +
            printable(target) + ": " + std::string(reason),
        false);
  json_event("refused", path, 0, std::nullopt,
             "symlink to " + std::string(target) + ": " + std::string(reason));
}

void TransferReport::retry(std::string_view path, std::string_view reason) {
  json_event("retry", path, 0, std::nullopt, reason);
}

void TransferReport::verbose_line(std::string_view line) {
  if (verbose()) human(line, true);
}

void TransferReport::note(std::string_view message) {
  if (quiet()) return;
  human(std::string(options_.program) + ": " + std::string(message), false);
}

void TransferReport::connection_failed(const Error& error) {
  if (!run_failure_) run_failure_ = exit_status_for(error.code);
}

int TransferReport::finish(std::optional<int> given) {
  progress_.clear();
  int status = static_cast<int>(Exit::kSuccess);
  if (given) {
    status = *given;
  } else if (run_failure_) {
    status = static_cast<int>(*run_failure_);
  } else if (first_failure_) {
    const bool some_succeeded = files_done_ + files_skipped_ + other_successes_ > 0;
    status = static_cast<int>(some_succeeded ? Exit::kPartial : *first_failure_);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  const std::string done = options_.receiving ? "received" : "sent";
  if (options_.json) {
    nlohmann::ordered_json j = {{"event", "summary"},
                                {"files_" + done, files_done_},
                                {"bytes_" + done, bytes_done_},
                                {"files_skipped", files_skipped_},
                                {"bytes_skipped", bytes_skipped_},
                                {"files_failed", files_failed_},
                                {"seconds", seconds},
                                {"exit_code", status}};
    if (options_.dry_run) j["dry_run"] = true;
    std::cout << dump(j) << '\n' << std::flush;
  }
  if (verbose()) {
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.2f s", seconds);
    std::cerr << options_.program << ": " << done << ' ' << files_done_ << " files (" << bytes_done_
              << " bytes), skipped " << files_skipped_ << ", failed " << files_failed_ << " in "
              << rate << '\n'
              << std::flush;
  }
  return status;
}

}  // namespace ft::client
