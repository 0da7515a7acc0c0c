#pragma once
// A token bucket that paces bytes to a rate (--bwlimit in the clients and
// ftserve). Pure: the caller passes the time, so the same code serves a
// poll() loop and a libuv timer, and the tests use a fake clock.
//
// Writes are not split to fit the tokens: take() may run the bucket into
// debt (a whole 1 MiB chunk goes out at once) and the writer then waits
// until the debt is paid. On average the rate is exact; the burst after an
// idle spell is capped at `burst` bytes.
#include <chrono>
#include <cstdint>

namespace ft {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  /// `rate` bytes per second (> 0); the bucket starts full.
  TokenBucket(std::uint64_t rate, Clock::time_point now);

  std::uint64_t rate() const { return rate_; }
  std::uint64_t burst() const { return burst_; }

  /// True when a writer may go on now (no debt).
  bool ready(Clock::time_point now);
  /// Counts `bytes` sent or received at `now`.
  void take(std::uint64_t bytes, Clock::time_point now);
  /// How long until ready() (zero if it is), rounded up to whole
  /// milliseconds so that a timer never wakes a moment too early.
  std::chrono::milliseconds wait(Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  std::uint64_t rate_;
  std::uint64_t burst_;
  // Tokens in bytes; negative while in debt. A double keeps the fractions
  // of a byte that short intervals earn, so no time is lost to rounding.
  double tokens_;
  Clock::time_point last_;
};

}  // namespace ft
