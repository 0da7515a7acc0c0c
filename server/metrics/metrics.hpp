#pragma once
// What ftserve counts for --metrics, and its Prometheus text (exposition
// format 0.0.4; docs/server.md "Metrics" lists every metric).
//
// One registry per process (metrics()), like a Prometheus client's default
// registry: the parts that count (sessions, the group commit on the thread
// pool) reach it without being handed it. Plain counters are atomics, so
// any thread may add; the labelled families (requests, identities) are
// changed and read on the loop thread only.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ft::server {

/// A histogram of durations, observed from any thread.
class LatencyHistogram {
 public:
  /// Upper bounds of the buckets, in seconds (+Inf is implicit): from a
  /// page-cache fsync (well under a millisecond) to a stalled disk.
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  struct Snapshot {
    std::array<std::uint64_t, kBounds.size() + 1> buckets{};  // not cumulative; last: +Inf
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };

  void observe(std::chrono::nanoseconds elapsed);
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class Metrics {
 public:
  // Any thread.
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> received_bytes{0};  // from client sockets, TLS records included
  std::atomic<std::uint64_t> sent_bytes{0};
  std::atomic<std::uint64_t> commits{0};          // files synced and renamed into place
  std::atomic<std::uint64_t> commit_failures{0};  // files whose commit failed
  LatencyHistogram commit_sync;                   // one observation per group commit

  // Loop thread.
  /// A request of operation `op` (put, get, ...) ended with `result` ("ok"
  /// or an error code's name): bounded by the operations and the error table.
  void request_finished(std::string_view op, std::string_view result);
  /// File bytes an identity ("" in open mode) uploaded or downloaded.
  void identity_bytes(std::string_view identity, bool upload, std::uint64_t bytes);
  /// Lists an identity at 0 before it moves a byte (the keys file's names).
  void add_identity(std::string_view identity);

  struct Directions {
    std::uint64_t in = 0;
    std::uint64_t out = 0;
  };
  using RequestCounts =
      std::map<std::string, std::map<std::string, std::uint64_t, std::less<>>, std::less<>>;
  const RequestCounts& requests() const { return requests_; }
  const std::map<std::string, Directions, std::less<>>& identities() const { return identities_; }

 private:
  RequestCounts requests_;  // op -> result -> count
  std::map<std::string, Directions, std::less<>> identities_;
};

/// The process's registry.
Metrics& metrics();

/// What is read from the server when it is scraped.
struct MetricsGauges {
  std::uint64_t connections = 0;  // open now
  std::uint64_t partials_kept = 0;
  std::uint64_t memory_used = 0;  // the connections' memory budget, held now
  std::uint64_t memory_limit = 0;
  std::optional<std::uint64_t> free_bytes;   // on the served root's file system
  std::optional<std::uint64_t> free_inodes;  // where it counts inodes
};

/// The Prometheus text of `metrics` and `gauges`, with HELP and TYPE lines.
std::string render_prometheus(const Metrics& metrics, const MetricsGauges& gauges);

}  // namespace ft::server
