// The metrics endpoint's request-head parser: every vector fed whole, byte
// by byte and in random splits must give the same answer (STYLE.md 2).
#include "server/metrics/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support/feed_plan.hpp"

namespace ft::server {
namespace {

struct Outcome {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  std::size_t consumed = 0;
  std::string method;
  std::string target;
  int minor_version = 0;
  int error_status = 0;
};

constexpr std::size_t kMax = 256;

// Feeds `input` in the pieces the plan cuts, re-parsing what arrived so far
// after each, as the connection does; stops at the first final answer.
Outcome feed(const std::string& input, const test::FeedPlan& plan) {
  test::Chunker chunker(plan);
  std::string received;
  Outcome outcome;
  std::size_t at = 0;
  while (at < input.size()) {
    const std::size_t n = chunker.next(input.size() - at);
    received.append(input, at, n);
    at += n;
    const HttpParseResult r = parse_http_request(received, kMax);
    outcome.status = r.status;
    if (r.status == HttpParseStatus::kNeedMore) continue;
    outcome.consumed = r.consumed;
    outcome.method = std::string(r.head.method);
    outcome.target = std::string(r.head.target);
    outcome.minor_version = r.head.minor_version;
    outcome.error_status = r.error_status;
    break;
  }
  return outcome;
}

std::vector<test::FeedPlan> plans() {
  std::vector<test::FeedPlan> out;
  for (const test::FeedPlan& plan : test::all_feed_plans()) {
    if (plan.input == test::Input::kFeed) out.push_back(plan);
  }
  return out;
}

class HttpRequestParse : public ::testing::TestWithParam<test::FeedPlan> {};

TEST_P(HttpRequestParse, CompleteRequestWithHeaders) {
  const std::string head =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42\r\n"
      "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n";
  const Outcome o = feed(head + "body bytes", GetParam());
  ASSERT_EQ(o.status, HttpParseStatus::kComplete);
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.method, "GET");
  EXPECT_EQ(o.target, "/metrics");
  EXPECT_EQ(o.minor_version, 1);
}

TEST_P(HttpRequestParse, BareLineFeedsAndALeadingEmptyLine) {
  const std::string head = "\r\nGET /metrics?x=1 HTTP/1.0\nHost: a\n\n";
  const Outcome o = feed(head, GetParam());
  ASSERT_EQ(o.status, HttpParseStatus::kComplete);
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.target, "/metrics?x=1");
  EXPECT_EQ(o.minor_version, 0);
}

TEST_P(HttpRequestParse, IncompleteHeadNeedsMore) {
  EXPECT_EQ(feed("GET /metrics HTTP/1.1\r\nHost: a\r\n", GetParam()).status,
            HttpParseStatus::kNeedMore);
  EXPECT_EQ(feed("GET /metr", GetParam()).status, HttpParseStatus::kNeedMore);
}

TEST_P(HttpRequestParse, MalformedRequestLinesAre400) {
  for (const char* bad : {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "G(T /metrics HTTP/1.1\r\n\r\n", "GET /met rics HTTP/1.1\r\n\r\n",
                          "GET /metrics HTTQ/1.1\r\n\r\n", "GET /metrics HTTP/1.10\r\n\r\n",
                          "GET /m\x01 HTTP/1.1\r\n\r\n"}) {
    const Outcome o = feed(bad, GetParam());
    EXPECT_EQ(o.status, HttpParseStatus::kError) << bad;
    EXPECT_EQ(o.error_status, 400) << bad;
  }
}

TEST_P(HttpRequestParse, MalformedHeadersAre400) {
  for (const char* bad :
       {"GET / HTTP/1.1\r\nno colon\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"}) {
    const Outcome o = feed(bad, GetParam());
    EXPECT_EQ(o.status, HttpParseStatus::kError) << bad;
    EXPECT_EQ(o.error_status, 400) << bad;
  }
}

TEST_P(HttpRequestParse, OtherVersionsAre505) {
  const Outcome o = feed("GET /metrics HTTP/2.0\r\n\r\n", GetParam());
  EXPECT_EQ(o.status, HttpParseStatus::kError);
  EXPECT_EQ(o.error_status, 505);
}

TEST_P(HttpRequestParse, HeadLongerThanTheCapIs431) {
  std::string head = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(kMax, 'a') + "\r\n\r\n";
  Outcome o = feed(head, GetParam());
  EXPECT_EQ(o.status, HttpParseStatus::kError);
  EXPECT_EQ(o.error_status, 431);
  // Without any line end at all, too.
  o = feed(std::string(kMax + 10, 'G'), GetParam());
  EXPECT_EQ(o.error_status, 431);
}

INSTANTIATE_TEST_SUITE_P(Plans, HttpRequestParse, ::testing::ValuesIn(plans()),
                         [](const auto& info) { return test::plan_name(info.param); });

}  // namespace
}  // namespace ft::server
