#pragma once
// What ftsend and ftget share to survive a lost connection: which failures
// are worth a new connection, the backoff between attempts (0.2 s, doubling,
// at most 5 s) and an interruptible wait. The commands themselves decide
// what "redo only the unfinished files" means.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rules/errors.hpp"

namespace ft::client {

/// Default and largest value of --retries.
inline constexpr int kDefaultRetries = 3;
inline constexpr int kMaxRetries = 100;

/// True for a connection-level failure that a new connection may cure:
/// cannot connect, connection lost (reset, end of stream, silence), the
/// server shutting down, full (SERVER_FULL) or timing us out. Interrupts,
/// protocol errors, authentication failures (AUTH_FAILED, AUTH_REQUIRED, a
/// TLS record that failed to authenticate) and local failures are not
/// retried.
bool is_retryable(const Error& connection_failure);

/// The attempts of one command: counts retries against --retries and hands
/// out the growing delays.
class RetryBudget {
 public:
  explicit RetryBudget(int retries) : retries_(retries) {}
  /// True if another retry is allowed.
  bool left() const { return used_ < retries_; }
  /// Takes one retry: returns its delay (0.2 s, 0.4 s, ... at most 5 s).
  std::chrono::milliseconds take();
  int used() const { return used_; }
  int limit() const { return retries_; }

 private:
  int retries_;
  int used_ = 0;
  std::chrono::milliseconds next_delay_{200};
};

/// The delay as the retry line prints it: "0.2", "1.6", "5".
std::string delay_text(std::chrono::milliseconds delay);

/// The reason of a connection failure for the retry line, without the
/// "connection lost: " its message starts with.
std::string failure_reason(const Error& connection_failure);

/// Sleeps for `delay` (poll() against a deadline, restarted after signals).
/// Returns false, early, if SIGINT or SIGTERM arrived.
bool wait_before_retry(std::chrono::milliseconds delay);

/// The error that ends a command interrupted by SIGINT or SIGTERM.
Error interrupted_error();

/// A deferred file's line for the retry report: "<path>: <message> (<CODE>)",
/// the path made printable.
std::string deferred_line(std::string_view path, const Error& reason);

/// A command's files seen by the retry loop. Its attempts run one after the
/// other; between them the loop waits, and every call comes from it.
class RetryableWork {
 public:
  virtual ~RetryableWork() = default;
  /// Makes every unfinished file ready to be tried again (on a new
  /// connection): what it sent or received so far is forgotten or kept for
  /// resuming, as the command decides. Called before every attempt.
  virtual void prepare_attempt() = 0;
  /// True when every file succeeded or failed for good.
  virtual bool all_done() const = 0;
  /// Connects and runs one session; returns its connection-level failure.
  virtual std::optional<Error> attempt() = 0;
  /// One line per file the server asked to try again later (BUSY or
  /// SHUTTING_DOWN for that file), for the retry report: "<path>: <why>".
  virtual std::vector<std::string> deferred() const = 0;
  /// No more attempts: every unfinished file fails, with its own deferred
  /// reason (reported here) or else with `failure`.
  virtual void give_up(const std::optional<Error>& failure) = 0;
};

class TransferReport;

/// Runs attempts until the work is done, a failure cannot be retried, or
/// `retries` retries were used (each announced on stderr unless -q, and as
/// a "retry" event with --json).
void run_with_retries(std::string_view program, RetryableWork& work, int retries,
                      TransferReport& report);

}  // namespace ft::client
