#pragma once
// ftserve's --bwlimit and --bwlimit-per-identity (docs/server.md
// "Bandwidth"): token buckets, one per direction for the whole server and
// one per direction for each identity, that every authenticated connection
// draws on. A connection whose buckets are in debt stops reading (uploads)
// or stops queueing DATA (downloads) and arms a timer on the loop for when
// the debt is paid: nothing sleeps.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/base/token_bucket.hpp"

namespace ft::server {

class BandwidthPacer {
 public:
  enum class Direction { kIn, kOut };
  using Clock = TokenBucket::Clock;

  /// The smallest limit ftserve takes: a download's 4 MiB chunk is paid
  /// for after it is written, and at this rate the pause that follows
  /// (64 s) stays inside the clients' idle timeout (120 s).
  static constexpr std::uint64_t kMinRate = 64 * 1024;

  /// Rates in bytes per second; 0: no limit of that kind.
  BandwidthPacer(std::uint64_t server_rate, std::uint64_t identity_rate)
      : server_rate_(server_rate), identity_rate_(identity_rate) {}

  bool enabled() const { return server_rate_ != 0 || identity_rate_ != 0; }
  /// True when `identity` ("" in open mode: everyone) may move bytes in
  /// `direction` at `now`.
  bool ready(Direction direction, const std::string& identity, Clock::time_point now);
  /// Counts `bytes` moved by `identity`.
  void take(Direction direction, const std::string& identity, std::uint64_t bytes,
            Clock::time_point now);
  /// How long until ready() (zero if it is).
  std::chrono::milliseconds wait(Direction direction, const std::string& identity,
                                 Clock::time_point now);

 private:
  struct Pair {
    std::optional<TokenBucket> in;
    std::optional<TokenBucket> out;
    std::optional<TokenBucket>& of(Direction d) { return d == Direction::kIn ? in : out; }
  };
  /// The identity's buckets, made on first use (at most one pair per key of
  /// the keys file, or one in open mode).
  Pair& identity_pair(const std::string& identity, Clock::time_point now);

  std::uint64_t server_rate_;
  std::uint64_t identity_rate_;
  Pair server_;
  std::map<std::string, Pair, std::less<>> identities_;
};

}  // namespace ft::server
