// The metrics registry and its Prometheus text (docs/server.md "Metrics").
// The text is also parsed by prometheus_client in the integration test.
#include "server/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ft::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(LatencyHistogram, BucketsAreCumulativeWithCountAndSum) {
  Metrics m;
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  m.commit_sync.observe(microseconds(100));         // <= 0.0005
  m.commit_sync.observe(microseconds(500));         // == 0.0005: le is inclusive
  m.commit_sync.observe(milliseconds(3));           // <= 0.005
  m.commit_sync.observe(std::chrono::seconds(60));  // +Inf only
  const std::string text = render_prometheus(m, {});
  EXPECT_TRUE(has_line(text, "# TYPE ft_commit_sync_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_bucket{le=\"0.0005\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_bucket{le=\"0.0025\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_bucket{le=\"0.005\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_bucket{le=\"10\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_bucket{le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(has_line(text, "ft_commit_sync_seconds_count 4")) << text;
  const std::string sum = "\nft_commit_sync_seconds_sum ";
  const std::size_t at = text.find(sum);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NEAR(std::stod(text.substr(at + sum.size())), 60.0036, 1e-9);
}

TEST(Metrics, RequestsByOperationAndResult) {
  Metrics m;
  m.request_finished("put", "ok");
  m.request_finished("put", "ok");
  m.request_finished("get", "NOT_FOUND");
  const std::string text = render_prometheus(m, {});
  EXPECT_TRUE(has_line(text, "# TYPE ft_requests_total counter"));
  EXPECT_TRUE(has_line(text, "ft_requests_total{op=\"put\",result=\"ok\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "ft_requests_total{op=\"get\",result=\"NOT_FOUND\"} 1")) << text;
}

TEST(Metrics, IdentitiesAreListedFromTheStartAndEscaped) {
  Metrics m;
  m.add_identity("alice");
  m.add_identity("");  // open mode
  m.identity_bytes("bob\"\\\n", true, 7);
  m.identity_bytes("", false, 5);
  const std::string text = render_prometheus(m, {});
  EXPECT_TRUE(has_line(text, "ft_identity_bytes_total{identity=\"alice\",direction=\"in\"} 0"));
  EXPECT_TRUE(has_line(text, "ft_identity_bytes_total{identity=\"-\",direction=\"out\"} 5"));
  EXPECT_TRUE(
      has_line(text, "ft_identity_bytes_total{identity=\"bob\\\"\\\\\\n\",direction=\"in\"} 7"))
      << text;
}

TEST(Metrics, EveryFamilyHasHelpAndTypeAndGaugesAreRead) {
  Metrics m;
  m.received_bytes += 10;
  m.commits += 2;
  MetricsGauges gauges;
  gauges.connections = 3;
  gauges.partials_kept = 1;
  gauges.free_bytes = 4096;
  const std::string text = render_prometheus(m, gauges);
  EXPECT_TRUE(has_line(text, "ft_connections 3"));
  EXPECT_TRUE(has_line(text, "ft_partials_kept 1"));
  EXPECT_TRUE(has_line(text, "ft_free_bytes 4096"));
  EXPECT_EQ(text.find("ft_free_inodes"), std::string::npos);  // not counted: not shown
  EXPECT_TRUE(has_line(text, "ft_received_bytes_total 10"));
  EXPECT_TRUE(has_line(text, "ft_commits_total 2"));
  // Each TYPE follows its HELP, and every sample belongs to a declared family.
  std::string family;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_EQ(line.substr(7, family.size() + 1), family + " ") << line;
    } else {
      EXPECT_EQ(line.rfind(family, 0), 0u) << line << " outside " << family;
    }
  }
}

}  // namespace
}  // namespace ft::server
