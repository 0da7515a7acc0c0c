#include "client/transfer/retry.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "client/net/interrupt.hpp"
#include "client/report/console.hpp"
#include "client/report/transfer_report.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMaxDelay{5000};
constexpr std::string_view kLostPrefix = "connection lost: ";
// What a person needs to know when a transfer stops unfinished: ftget keeps
// every partial file, ftsend's server keeps partial uploads (RESUME), and
// with -r what is complete is skipped as unchanged.
constexpr std::string_view kResumeHint = "; run the same command again to resume";

}  // namespace

bool is_retryable(const Error& connection_failure) {
  switch (connection_failure.code) {
    case ErrorCode::CONNECT_FAILED:
    case ErrorCode::CONNECTION_LOST:
    case ErrorCode::SHUTTING_DOWN:
    case ErrorCode::SERVER_FULL:  // the plaintext notice, before any request
    case ErrorCode::TIMEOUT:      // the server's deadline ran out on us
    case ErrorCode::FRAME_CHECK:  // a bit flipped on the way: the next try may pass
      return !interrupted();
    // Authentication failures (AUTH_FAILED, AUTH_REQUIRED), a key file
    // error and a channel that failed (a record altered in transit) would
    // fail the same way again: never retried.
    default:
      return false;
  }
}

std::chrono::milliseconds RetryBudget::take() {
  ++used_;
  auto delay = next_delay_;
  next_delay_ = std::min(next_delay_ * 2, kMaxDelay);
  return delay;
}

std::string delay_text(std::chrono::milliseconds delay) {
  const auto tenths = (delay.count() + 50) / 100;
  std::string out = std::to_string(tenths / 10);
  if (tenths % 10 != 0) {
    // Appended piece by piece: `"." + std::to_string(...)` trips GCC 12's
    // -Wrestrict false positive (GCC bug 105329) in Release builds.
    out += '.';
    out += std::to_string(tenths % 10);
  }
  return out;
}

namespace {

// "<what>; retry <k>/<N> in <t> s" on stderr (not with -q), and the event.
void report_retry(TransferReport& report, std::string_view what, const RetryBudget& budget,
                  std::chrono::milliseconds delay) {
  report.retry({}, what);
  report.note(std::string(what) + "; retry " + std::to_string(budget.used()) + "/" +
              std::to_string(budget.limit()) + " in " + delay_text(delay) + " s");
}

}  // namespace

std::string failure_reason(const Error& connection_failure) {
  std::string_view message = connection_failure.message;
  if (message.starts_with(kLostPrefix)) message.remove_prefix(kLostPrefix.size());
  if (message.empty()) message = default_message(connection_failure.code);
  return std::string(message);
}

bool wait_before_retry(std::chrono::milliseconds delay) {
  const auto deadline = Clock::now() + delay;
  for (;;) {
    if (interrupted()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return true;
    // poll() with no descriptor is a sleep that a signal ends with EINTR.
    if (::poll(nullptr, 0, static_cast<int>(left.count())) < 0 && errno != EINTR) return true;
  }
}

Error interrupted_error() {
  return Error{ErrorCode::CANCELLED, {}, "interrupted"};
}

std::string deferred_line(std::string_view path, const Error& reason) {
  return printable(path) + ": " + reason.message + " (" + to_string(reason.code) + ")";
}

void run_with_retries(std::string_view program, RetryableWork& work, int retries,
                      TransferReport& report) {
  install_interrupt_handlers();
  RetryBudget budget(retries);
  for (;;) {
    work.prepare_attempt();
    if (work.all_done()) return;
    std::optional<Error> failure = work.attempt();
    const std::vector<std::string> deferred = work.deferred();
    if (!failure && deferred.empty()) continue;  // all_done() says so next turn
    if (failure && !is_retryable(*failure)) {
      if (failure->code == ErrorCode::CANCELLED) failure->message += kResumeHint;
      report.progress().clear();
      report_error(program, {}, *failure);
      work.give_up(failure);
      return;
    }
    if (!budget.left()) {
      if (failure) {
        if (budget.limit() > 0) {
          failure->message += " (gave up after " + std::to_string(budget.limit()) +
                              (budget.limit() == 1 ? " retry)" : " retries)");
        }
        if (failure->code != ErrorCode::CONNECT_FAILED) failure->message += kResumeHint;
        report.progress().clear();
        report_error(program, {}, *failure);
      }
      work.give_up(failure);
      return;
    }
    const auto delay = budget.take();
    if (failure) {
      report_retry(
          report,
          failure->code == ErrorCode::CONNECT_FAILED || failure->code == ErrorCode::SERVER_FULL
              ? failure_reason(*failure)
              : "connection lost (" + failure_reason(*failure) + ")",
          budget, delay);
    }
    for (const std::string& line : deferred) report_retry(report, line, budget, delay);
    if (!wait_before_retry(delay)) {
      Error error = interrupted_error();
      error.message += kResumeHint;
      report.progress().clear();
      report_error(program, {}, error);
      work.give_up(error);
      return;
    }
  }
}

}  // namespace ft::client
