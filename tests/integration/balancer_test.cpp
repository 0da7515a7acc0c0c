// ftserve behind a load balancer and beside other nodes on one root
// (docs/scale-out.md), driven by hand over raw connections: the PROXY
// header from listed addresses only, the per-address cap and the log seeing
// the client it names; SIGTERM's drain with GET /health; and the lock on a
// partial file that makes the same upload BUSY on a second server and keeps
// another server's cleaner away from it. scale_out_test.cpp runs the same
// things through the real HAProxy.
#include <sys/stat.h>
#include <utime.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint32_t kChunk = 64 * 1024;

// A PROXY v2 header for a TCP client at 192.0.2.<last>:<port>.
Bytes proxy_v2(std::uint8_t last, std::uint16_t port) {
  Bytes out = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
               0x21, 0x11, 0x00, 12,   192,  0,    2,    last, 127,  0,    0,    1};
  out.push_back(static_cast<std::uint8_t>(port >> 8));
  out.push_back(static_cast<std::uint8_t>(port));
  out.push_back(0x1B);
  out.push_back(0x9E);
  return out;
}

Bytes text_bytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

// The metrics port from ftserve's "metrics on http://ADDR:PORT/metrics".
int metrics_port(ListeningProcess& server) {
  EXPECT_TRUE(server.wait_for_err("/metrics (unauthenticated)")) << server.err();
  std::smatch match;
  const std::string err = server.err();
  if (!std::regex_search(err, match, std::regex(R"(metrics on http://[^/]+:(\d+)/metrics)"))) {
    return 0;
  }
  return std::stoi(match[1].str());
}

std::string health(int port) {
  const std::string reply = http_exchange(port, "GET /health HTTP/1.0\r\n\r\n");
  return reply.substr(0, reply.find("\r\n"));
}

// DATA frames of at most one chunk each for `content`, from `offset`.
void encode_chunks(Bytes& out, std::uint32_t id, std::uint64_t offset, const std::string& content) {
  for (std::size_t at = 0; at < content.size(); at += kChunk) {
    encode_data(out, id, offset + at, span_of(content.substr(at, kChunk)));
  }
}

PutMsg resumable_put(const std::string& path, std::uint64_t size) {
  return PutMsg{path, size, 0644, 1700000000000000000, kChunk, kPutResumable, "source-" + path};
}

class BalancerTest : public ServerFixture {
 protected:
  // A raw client through the "balancer" (this test, from 127.0.0.1),
  // speaking for 192.0.2.<last>.
  std::unique_ptr<RawClient> proxied(std::uint8_t last, std::uint16_t port = 51000) {
    auto client = std::make_unique<RawClient>(server_.port());
    EXPECT_TRUE(client->connected());
    EXPECT_TRUE(client->send(proxy_v2(last, port)));
    return client;
  }
};

TEST_F(BalancerTest, ProxyV2HeaderNamesTheClientInTheLog) {
  start_server({"--proxy-protocol", "127.0.0.0/8", "--log-level", "debug"});
  auto client = proxied(7);
  ASSERT_TRUE(client->send_hello(kCapTrees));
  ASSERT_TRUE(client->read_hello());
  EXPECT_EQ(make_dir(*client, 1, "made", 0755), "OK") << server_.err();
  client->close();
  EXPECT_EQ(server_.stop(SIGTERM), 0);
  EXPECT_TRUE(std::regex_search(
      server_.err(),
      std::regex(R"(peer=192\.0\.2\.7:51000: through 127\.0\.0\.1:\d+ \(PROXY v2\))")))
      << server_.err();
}

TEST_F(BalancerTest, ProxyV1HeaderWorksToo) {
  start_server({"--proxy-protocol", "127.0.0.1", "--log-level", "debug"});
  RawClient client(server_.port());
  ASSERT_TRUE(client.send(text_bytes("PROXY TCP4 198.51.100.4 127.0.0.1 40000 7070\r\n")));
  ASSERT_TRUE(client.send_hello());
  ASSERT_TRUE(client.read_hello());
  client.close();
  EXPECT_EQ(server_.stop(SIGTERM), 0);
  EXPECT_NE(server_.err().find("peer=198.51.100.4:40000: through 127.0.0.1:"), std::string::npos)
      << server_.err();
}

TEST_F(BalancerTest, PerAddressCapCountsTheClientNotTheBalancer) {
  start_server({"--proxy-protocol", "127.0.0.1", "--max-unauthenticated-per-address", "1"});
  // Two clients behind one balancer address, neither past its hello: each
  // is its own address.
  auto first = proxied(7);
  auto other = proxied(8);
  ASSERT_TRUE(other->send_hello());
  EXPECT_TRUE(other->read_hello()) << server_.err();
  // A second connection of the first client is over its cap.
  auto again = proxied(7, 51001);
  auto refused = again->read_connection_error();
  ASSERT_TRUE(refused) << server_.err();
  EXPECT_EQ(refused->code, static_cast<std::uint16_t>(ErrorCode::SERVER_FULL));
  EXPECT_NE(refused->message.find("from 192.0.2.7"), std::string::npos) << refused->message;
}

TEST_F(BalancerTest, MissingHeaderFromTheBalancerClosesWithALogLine) {
  start_server({"--proxy-protocol", "127.0.0.1"});
  RawClient client(server_.port());
  ASSERT_TRUE(client.send_hello());
  EXPECT_TRUE(client.closed_by_peer());
  EXPECT_TRUE(server_.wait_for_err("PROXY header: neither version 1")) << server_.err();
}

TEST_F(BalancerTest, HeaderFromAnUnlistedAddressIsAProtocolError) {
  start_server({"--proxy-protocol", "127.0.0.2"});  // the test connects from 127.0.0.1
  RawClient client(server_.port());
  ASSERT_TRUE(client.send(proxy_v2(7, 51000)));
  auto error = client.read_connection_error();
  ASSERT_TRUE(error) << server_.err();
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
  EXPECT_TRUE(server_.wait_for_err("not in --proxy-protocol")) << server_.err();
}

TEST_F(BalancerTest, HeaderWithoutProxyProtocolIsAProtocolError) {
  start_server();
  RawClient client(server_.port());
  ASSERT_TRUE(client.send(text_bytes("PROXY TCP4 198.51.100.4 127.0.0.1 40000 7070\r\n")));
  auto error = client.read_connection_error();
  ASSERT_TRUE(error) << server_.err();
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
}

// SIGTERM: /health turns 503 at once, new connections are refused, a new
// request on an open connection is told SHUTTING_DOWN, the one in flight
// finishes, and then the connection closes and ftserve exits 0.
TEST_F(BalancerTest, DrainLetsTheRequestInFlightFinish) {
  start_server({"--drain-timeout", "30s", "--metrics", "127.0.0.1:0"});
  const int metrics = metrics_port(server_);
  ASSERT_GT(metrics, 0);
  EXPECT_EQ(health(metrics), "HTTP/1.1 200 OK");
  RawClient client(server_.port());
  ASSERT_TRUE(client.send_hello(kCapTrees));
  ASSERT_TRUE(client.read_hello());
  const std::string content = "drained but whole";
  Bytes out;
  encode_put(out, 1,
             PutMsg{"inflight.txt", content.size(), 0644, 1700000000000000000, kChunk, 0, ""});
  ASSERT_TRUE(client.send(out));
  ASSERT_EQ(reply_name(client.read_frame()), "PUT_READY");

  server_.signal(SIGTERM);
  ASSERT_TRUE(server_.wait_for_err("draining 1 connection(s)")) << server_.err();
  EXPECT_EQ(health(metrics), "HTTP/1.1 503 Service Unavailable");
  RawClient late(server_.port());
  EXPECT_FALSE(late.connected() && late.send_hello() && late.read_hello());
  // A new upload goes elsewhere; a short request is still served.
  out.clear();
  encode_put(out, 2, PutMsg{"late.txt", content.size(), 0644, 1700000000000000000, kChunk, 0, ""});
  ASSERT_TRUE(client.send(out));
  EXPECT_EQ(reply_name(client.read_frame()), "SHUTTING_DOWN");
  EXPECT_EQ(make_dir(client, 3, "late", 0755), "OK");

  out.clear();
  encode_data(out, 1, 0, span_of(content));
  encode_end(out, 1, EndMsg{content.size(), hash128(span_of(content))});
  ASSERT_TRUE(client.send(out));
  EXPECT_EQ(reply_name(client.read_frame()), "OK");
  auto closing = client.read_connection_error();
  ASSERT_TRUE(closing);
  EXPECT_EQ(closing->code, static_cast<std::uint16_t>(ErrorCode::SHUTTING_DOWN));
  EXPECT_EQ(server_.stop(0), 0) << server_.err();  // exits by itself
  EXPECT_EQ(read_file(root_ / "inflight.txt"), content);
}

TEST_F(BalancerTest, DrainTimeoutCutsAStalledRequest) {
  start_server({"--drain-timeout", "1s"});
  RawClient client(server_.port());
  ASSERT_TRUE(client.send_hello());
  ASSERT_TRUE(client.read_hello());
  Bytes out;
  encode_put(out, 1, PutMsg{"stalled.txt", 10, 0644, 1700000000000000000, kChunk, 0, ""});
  ASSERT_TRUE(client.send(out));
  ASSERT_EQ(reply_name(client.read_frame()), "PUT_READY");
  server_.signal(SIGTERM);
  EXPECT_EQ(server_.stop(0), 0) << server_.err();
  EXPECT_NE(server_.err().find("--drain-timeout passed with 1 connection(s) open"),
            std::string::npos)
      << server_.err();
  EXPECT_TRUE(visible_tree_names(root_.path()).empty());
}

// Two ftserve processes on one root: the partial file's lock, not either
// server's memory, decides who writes it.
// The root is a temporary directory, or with FT_SCALE_ROOT a directory on
// a shared file system (scripts/gluster-scale-test.sh).
class SharedRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* shared = std::getenv("FT_SCALE_ROOT")) {
      root_ = fs::path(shared) / ("ft-shared-" + std::to_string(::getpid()));
      fs::create_directories(root_);
    } else {
      root_ = scratch_.path();
    }
    ASSERT_NO_FATAL_FAILURE(start_ftserve(first_, root_));
    ASSERT_NO_FATAL_FAILURE(start_ftserve(second_, root_));
  }
  void TearDown() override {
    if (first_.pid() > 0) {
      EXPECT_EQ(first_.stop(SIGTERM), 0) << first_.err();
    }
    if (second_.pid() > 0) {
      EXPECT_EQ(second_.stop(SIGTERM), 0) << second_.err();
    }
    if (std::getenv("FT_SCALE_ROOT") != nullptr) fs::remove_all(root_);
  }
  static std::unique_ptr<RawClient> resuming_client(const ListeningProcess& server) {
    auto client = std::make_unique<RawClient>(server.port());
    EXPECT_TRUE(client->send_hello(kCapResume));
    EXPECT_TRUE(client->read_hello());
    return client;
  }

  TempDir scratch_;
  fs::path root_;
  ListeningProcess first_;
  ListeningProcess second_;
};

TEST_F(SharedRootTest, SameUploadOnTwoServersIsBusyOnTheSecond) {
  std::string content(3 * kChunk, 'x');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 + i / 251);
  const PutMsg put = resumable_put("big.bin", content.size());
  auto writer = resuming_client(first_);
  Bytes out;
  encode_put(out, 1, put);
  ASSERT_TRUE(writer->send(out));
  ASSERT_EQ(reply_name(writer->read_frame()), "PUT_READY");
  out.clear();
  encode_data(out, 1, 0, span_of(content.substr(0, kChunk)));
  ASSERT_TRUE(writer->send(out));

  auto rival = resuming_client(second_);
  out.clear();
  encode_put(out, 1, put);
  ASSERT_TRUE(rival->send(out));
  EXPECT_EQ(reply_name(rival->read_frame()), "BUSY") << second_.err();

  // The first connection is cut once its chunk is on disk: its verified
  // prefix is kept, unlocked, and the second server resumes from it.
  for (int wait = 0; wait < 500 && largest_with_prefix(root_, ".ft-part-") < kChunk; ++wait) {
    ::usleep(10'000);
  }
  ASSERT_EQ(largest_with_prefix(root_, ".ft-part-"), kChunk);
  writer->close();
  ASSERT_TRUE(first_.wait_for_err("op=put path=\"big.bin\"")) << first_.err();
  std::optional<Frame> ready;
  for (int attempt = 0; attempt < 100; ++attempt) {
    out.clear();
    encode_put(out, 2 + attempt, put);
    ASSERT_TRUE(rival->send(out));
    ready = rival->read_frame();
    if (reply_name(ready) == "PUT_READY") break;
    ASSERT_EQ(reply_name(ready), "BUSY");  // the first server has not closed it yet
    ::usleep(20'000);
  }
  ASSERT_EQ(reply_name(ready), "PUT_READY");
  auto offered = decode_put_ready(ready->payload, true);
  ASSERT_TRUE(offered);
  EXPECT_EQ(offered->offset, kChunk);
  out.clear();
  const std::uint32_t id = ready->header.request_id;
  encode_chunks(out, id, kChunk, content.substr(kChunk));
  encode_end(out, id, EndMsg{content.size(), hash128(span_of(content))});
  ASSERT_TRUE(rival->send(out));
  EXPECT_EQ(reply_name(rival->read_frame()), "OK") << second_.err();
  EXPECT_TRUE(read_file(root_ / "big.bin") == content);
}

// A server starting on a shared root removes stale partial and temporary
// files, but never one another server's upload holds.
TEST_F(SharedRootTest, CleanerLeavesWhatAnotherServerHolds) {
  const std::string content(2 * kChunk, 'p');
  auto resumable = resuming_client(first_);
  Bytes out;
  encode_put(out, 1, resumable_put("held.bin", content.size()));
  ASSERT_TRUE(resumable->send(out));
  ASSERT_EQ(reply_name(resumable->read_frame()), "PUT_READY");
  out.clear();
  encode_put(out, 2, PutMsg{"plain.bin", content.size(), 0644, 1700000000000000000, kChunk, 0, ""});
  ASSERT_TRUE(resumable->send(out));
  ASSERT_EQ(reply_name(resumable->read_frame()), "PUT_READY");
  const auto partials = files_with_prefix(root_, ".ft-part-");
  const auto temporaries = files_with_prefix(root_, ".ft-tmp-");
  ASSERT_EQ(partials.size(), 1u);
  ASSERT_EQ(temporaries.size(), 1u);
  // Old enough for any TTL.
  struct utimbuf old {};
  old.actime = old.modtime = 1'000'000'000;
  ASSERT_EQ(::utime(partials[0].c_str(), &old), 0);
  ASSERT_EQ(::utime(temporaries[0].c_str(), &old), 0);

  ListeningProcess third;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(third, root_, {"--partial-ttl", "1s"}));
  EXPECT_TRUE(fs::exists(partials[0]));
  EXPECT_TRUE(fs::exists(temporaries[0]));

  out.clear();
  for (std::uint32_t id : {1u, 2u}) {
    encode_chunks(out, id, 0, content);
    encode_end(out, id, EndMsg{content.size(), hash128(span_of(content))});
  }
  ASSERT_TRUE(resumable->send(out));
  EXPECT_EQ(reply_name(resumable->read_frame()), "OK");
  EXPECT_EQ(reply_name(resumable->read_frame()), "OK");
  EXPECT_TRUE(read_file(root_ / "held.bin") == content);
  EXPECT_TRUE(read_file(root_ / "plain.bin") == content);
  EXPECT_EQ(third.stop(SIGTERM), 0) << third.err();
}

}  // namespace
}  // namespace ft::testing
