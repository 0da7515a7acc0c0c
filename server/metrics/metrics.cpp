#include "server/metrics/metrics.hpp"

#include <charconv>
#include <initializer_list>
#include <utility>

namespace ft::server {
namespace {

// Prometheus floats: the shortest text that reads back as the same double
// (fixed notation for bucket bounds, "0.0005" rather than "5e-04").
void append_double(std::string& out, double value,
                   std::chars_format format = std::chars_format::general) {
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value, format);
  if (ec == std::errc()) out.append(text, end);
}

// A label value: backslash, double quote and newline escaped (format 0.0.4).
void append_label(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name, std::uint64_t value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

using Label = std::pair<std::string_view, std::string_view>;

// One sample of a labelled family: name{k="v",...} value.
void append_labelled(std::string& out, std::string_view name, std::initializer_list<Label> labels,
                     std::uint64_t value) {
  out += name;
  char separator = '{';
  for (const auto& [key, label] : labels) {
    out += separator;
    out += key;
    out += '=';
    append_label(out, label);
    separator = ',';
  }
  out += "} ";
  out += std::to_string(value);
  out += '\n';
}

void append_single(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::uint64_t value) {
  append_family(out, name, type, help);
  append_sample(out, name, value);
}

void append_histogram(std::string& out, std::string_view name, std::string_view help,
                      const LatencyHistogram::Snapshot& snapshot) {
  append_family(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= LatencyHistogram::kBounds.size(); ++i) {
    cumulative += snapshot.buckets[i];
    out += name;
    out += "_bucket{le=\"";
    if (i < LatencyHistogram::kBounds.size()) {
      append_double(out, LatencyHistogram::kBounds[i], std::chars_format::fixed);
    } else {
      out += "+Inf";
    }
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  out += name;
  out += "_sum ";
  append_double(out, snapshot.sum_seconds);
  out += '\n';
  out += name;
  out += "_count ";
  // The buckets, not a separate counter: a scrape during an observe then
  // still sees _count equal to the +Inf bucket, as the format requires.
  out += std::to_string(cumulative);
  out += '\n';
}

}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(elapsed.count() > 0 ? elapsed.count() : 0),
                    std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot snapshot;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    snapshot.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    snapshot.count += snapshot.buckets[i];
  }
  snapshot.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return snapshot;
}

void Metrics::request_finished(std::string_view op, std::string_view result) {
  auto by_op = requests_.find(op);
  if (by_op == requests_.end())
    by_op = requests_.emplace(std::string(op), decltype(by_op->second){}).first;
  auto count = by_op->second.find(result);
  if (count == by_op->second.end()) count = by_op->second.emplace(std::string(result), 0).first;
  ++count->second;
}

void Metrics::identity_bytes(std::string_view identity, bool upload, std::uint64_t bytes) {
  auto it = identities_.find(identity);
  if (it == identities_.end()) it = identities_.emplace(std::string(identity), Directions{}).first;
  (upload ? it->second.in : it->second.out) += bytes;
}

void Metrics::add_identity(std::string_view identity) {
  if (identities_.find(identity) == identities_.end()) {
    identities_.emplace(std::string(identity), Directions{});
  }
}

Metrics& metrics() {
  static Metrics registry;
  return registry;
}

std::string render_prometheus(const Metrics& m, const MetricsGauges& gauges) {
  std::string out;
  out.reserve(4096);
  append_family(out, "ft_build_info", "gauge", "ftserve's version, as a label; always 1.");
  append_labelled(out, "ft_build_info", {{"version", FT_VERSION}}, 1);
  append_single(out, "ft_connections", "gauge", "Client connections open now.", gauges.connections);
  append_single(out, "ft_connections_accepted_total", "counter",
                "Client connections accepted (each became a session).",
                m.connections_accepted.load(std::memory_order_relaxed));
  append_single(out, "ft_connections_refused_total", "counter",
                "Client connections refused or dropped: server full, too many handshakes from "
                "one address, out of descriptors.",
                m.connections_refused.load(std::memory_order_relaxed));
  append_family(out, "ft_requests_total", "counter",
                "Requests finished, by operation and result (ok or the error code's name).");
  for (const auto& [op, results] : m.requests()) {
    for (const auto& [result, count] : results) {
      append_labelled(out, "ft_requests_total", {{"op", op}, {"result", result}}, count);
    }
  }
  append_single(out, "ft_received_bytes_total", "counter",
                "Bytes read from client connections (TLS records included).",
                m.received_bytes.load(std::memory_order_relaxed));
  append_single(out, "ft_sent_bytes_total", "counter",
                "Bytes written to client connections (TLS records included).",
                m.sent_bytes.load(std::memory_order_relaxed));
  append_family(out, "ft_identity_bytes_total", "counter",
                "File bytes moved per identity (- in open mode): in = uploaded, out = "
                "downloaded.");
  for (const auto& [identity, bytes] : m.identities()) {
    const std::string_view name = identity.empty() ? std::string_view("-") : identity;
    append_labelled(out, "ft_identity_bytes_total", {{"identity", name}, {"direction", "in"}},
                    bytes.in);
    append_labelled(out, "ft_identity_bytes_total", {{"identity", name}, {"direction", "out"}},
                    bytes.out);
  }
  append_single(out, "ft_commits_total", "counter",
                "Uploaded files made durable: synced and renamed into place.",
                m.commits.load(std::memory_order_relaxed));
  append_single(out, "ft_commit_failures_total", "counter",
                "Uploaded files whose commit failed (checksum, sync, rename).",
                m.commit_failures.load(std::memory_order_relaxed));
  append_histogram(out, "ft_commit_sync_seconds",
                   "Duration of each group commit: file syncs, renames and directory syncs of "
                   "one batch.",
                   m.commit_sync.snapshot());
  append_single(out, "ft_partials_kept", "gauge",
                "Partial files of cut resumable uploads kept for a resume.", gauges.partials_kept);
  append_single(
      out, "ft_memory_used_bytes", "gauge",
      "Memory the connections hold for their peers, counted in the server's memory budget.",
      gauges.memory_used);
  append_single(out, "ft_memory_limit_bytes", "gauge", "The connections' memory budget.",
                gauges.memory_limit);
  if (gauges.free_bytes) {
    append_single(out, "ft_free_bytes", "gauge",
                  "Bytes available to unprivileged users on the served root's file system.",
                  *gauges.free_bytes);
  }
  if (gauges.free_inodes) {
    append_single(out, "ft_free_inodes", "gauge",
                  "Inodes available to unprivileged users on the served root's file system.",
                  *gauges.free_inodes);
  }
  return out;
}

}  // namespace ft::server
