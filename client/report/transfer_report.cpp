#include "client/report/transfer_report.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "client/report/entry_format.hpp"
#include "client/report/sizes.hpp"
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

// The message of an error without its code: the code has its own field.
std::string message_of(const Error& error) {
  return error.message.empty() ? std::string(default_message(error.code)) : error.message;
}

}  // namespace

TransferReport::TransferReport(ReportOptions options)
    : options_(options), progress_(options.progress), start_(Clock::now()) {
  totals_.receiving = options.receiving;
  totals_.dry_run = options.dry_run;
}

std::string TransferReport::size(std::uint64_t bytes) const {
  return size_text(bytes, options_.human_readable);
}

void TransferReport::human(std::string_view line, bool to_stdout) {
  progress_.clear();
  // With --json, stdout holds only JSON lines: human lines go to stderr.
  std::ostream& out =
      to_stdout && !options_.json && !options_.stdout_is_data ? std::cout : std::cerr;
  out << line << '\n' << std::flush;
}

void TransferReport::json_event(std::string_view event, std::string_view path, std::uint64_t bytes,
                                std::optional<double> seconds, std::string_view reason,
                                const Error* error) {
  if (!options_.json) return;
  nlohmann::ordered_json j = {{"event", event}, {"path", path}, {"bytes", bytes}};
  if (seconds) j["seconds"] = *seconds;
  if (!reason.empty()) j["reason"] = reason;
  if (error != nullptr) {
    j["code"] = to_string(error->code);
    j["message"] = message_of(*error);
  }
  if (options_.dry_run) j["dry_run"] = true;
  std::cout << dump(j) << '\n' << std::flush;
}

void TransferReport::transferred(std::string_view path, std::uint64_t bytes, double seconds) {
  ++totals_.files;
  totals_.bytes += bytes;
  progress_.add_done(1, options_.dry_run ? bytes : 0);
  const char* verb = options_.receiving ? "received" : "sent";
  json_event(verb, path, bytes, seconds, {});
  if (options_.dry_run && !quiet()) {
    human(std::string("would ") + (options_.receiving ? "receive " : "send ") + printable(path) +
              " " + size(bytes),
          true);
  } else if (verbose()) {
    human(std::string(verb) + " " + printable(path) + " " + size(bytes), true);
  }
}

void TransferReport::skipped(std::string_view path, std::uint64_t bytes, std::string_view reason,
                             bool loud) {
  ++totals_.skipped;
  totals_.bytes_skipped += bytes;
  switch (skip_kind(reason)) {
    case SkipKind::kUnchanged:
      ++totals_.unchanged;
      break;
    case SkipKind::kLink:
      ++totals_.links_skipped;
      break;
    case SkipKind::kSpecial:
      ++totals_.special_skipped;
      break;
  }
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
  if (what == "directory") {
    ++totals_.dirs_created;
  } else {
    ++totals_.links_created;
  }
  if (verbose() || (options_.dry_run && !quiet() && what == "symlink")) {
    human(std::string(options_.dry_run ? "would create " : "created ") + std::string(what) + " " +
              printable(path),
          true);
  }
}

void TransferReport::count_failure(Exit status, std::string_view path, const Error& error) {
  ++totals_.failed;
  if (!first_failure_) first_failure_ = status;
  if (totals_.errors.size() < kMaxSummaryErrors) {
    totals_.errors.push_back({std::string(path), to_string(error.code), message_of(error)});
  } else {
    ++totals_.errors_omitted;
  }
}

void TransferReport::failed(std::string_view path, const Error& error, std::string_view subject) {
  count_failure(exit_status_for(error.code), path, error);
  progress_.clear();
  report_error(options_.program, printable(subject.empty() ? path : subject), error);
  json_event("failed", path, 0, std::nullopt, {}, &error);
}

void TransferReport::refused(std::string_view path, std::string_view target,
                             std::string_view reason) {
  // The link was not sent: the run is partial, as for a local file error.
  const Error error{
      ErrorCode::LOCAL_FILE, {}, "symlink to " + std::string(target) + ": " + std::string(reason)};
  count_failure(Exit::kLocalFile, path, error);
  human(std::string(options_.program) + ": refused symlink " + printable(path) + " -> " +
            printable(target) + ": " + std::string(reason),
        false);
  json_event("refused", path, 0, std::nullopt, error.message, &error);
}

void TransferReport::deleted(std::string_view path, bool directory) {
  ++totals_.deleted;
  json_event("deleted", path, 0, std::nullopt, directory ? "directory" : "file");
  if (options_.dry_run && !quiet()) {
    human("would delete " + printable(path) + (directory ? "/" : ""), true);
  } else if (verbose()) {
    human("deleted " + printable(path) + (directory ? "/" : ""), true);
  }
}

void TransferReport::deletions_over_limit(std::uint64_t over, std::optional<std::uint64_t> max) {
  if (over == 0) return;
  totals_.deletes_over_limit = over;
  progress_.clear();
  // Said even with -q: the mirror is not what was asked for.
  report_error(options_.program, {},
               Error{ErrorCode::DELETE_LIMIT,
                     {},
                     std::to_string(over) + (over == 1 ? " name was" : " names were") +
                         " not deleted: more than --max-delete " + std::to_string(max.value_or(0)) +
                         (options_.dry_run ? " (dry run)" : "")});
}

void TransferReport::deletions_skipped() {
  totals_.deletes_skipped = true;
  progress_.clear();
  std::cerr << options_.program << ": --delete: nothing deleted, because the run did not succeed"
            << std::endl;
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
    // A directory is only a container: a run whose every file failed is
    // not partial because the directories were made.
    const bool some_succeeded = totals_.files + totals_.skipped + totals_.links_created > 0;
    status = static_cast<int>(some_succeeded ? Exit::kPartial : *first_failure_);
  } else if (totals_.deletes_over_limit > 0) {
    status = static_cast<int>(Exit::kDeleteLimit);
  }
  totals_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  totals_.exit_code = status;
  if (options_.stats) {
    // With --json, stdout holds only JSON: the block goes to stderr.
    (options_.json || options_.stdout_is_data ? std::cerr : std::cout)
        << stats_text(totals_, options_.human_readable) << std::flush;
  }
  if (options_.json) std::cout << summary_json(totals_) << '\n' << std::flush;
  if (verbose()) {
    std::cerr << options_.program << ": " << summary_line(totals_, options_.human_readable) << '\n'
              << std::flush;
  }
  return status;
}

}  // namespace ft::client
