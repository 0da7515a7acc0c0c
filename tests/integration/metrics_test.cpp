// ftserve --metrics end to end (docs/server.md "Metrics"): the endpoint is
// scraped and parsed by Prometheus's own Python client
// (scrape_metrics.py), before and after real transfers, and the counters
// must have moved by what the transfers did.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/wire/messages.hpp"
#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using Labels = std::map<std::string, std::string>;

struct Scrape {
  nlohmann::json json;
  /// The value of sample `name` with exactly `labels`; nullopt if absent.
  std::optional<double> value(const std::string& name, const Labels& labels = {}) const {
    for (const auto& sample : json["samples"]) {
      if (sample["name"] != name) continue;
      if (sample["labels"].get<Labels>() == labels) return sample["value"].get<double>();
    }
    return std::nullopt;
  }
  std::string type(const std::string& family) const {
    if (!json["families"].contains(family)) return "";
    return json["families"][family]["type"].get<std::string>();
  }
};

class MetricsTest : public ServerFixture {
 protected:
  void start(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--metrics", "127.0.0.1:0"});
    start_server(extra);
    ASSERT_TRUE(server_.wait_for_err("/metrics (unauthenticated)")) << server_.err();
    std::smatch match;
    const std::string err = server_.err();
    ASSERT_TRUE(std::regex_search(err, match, std::regex(R"(metrics on http://([^/]+)/metrics)")))
        << err;
    metrics_address_ = match[1].str();
    metrics_port_ = std::stoi(metrics_address_.substr(metrics_address_.rfind(':') + 1));
  }
  Scrape scrape() {
    RunResult r = run(
        {"/usr/bin/python3", std::string(FT_SOURCE_DIR) + "/tests/integration/scrape_metrics.py",
         "http://" + metrics_address_ + "/metrics"},
        std::chrono::seconds(60));
    Scrape s;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code == 0) s.json = nlohmann::json::parse(r.out);
    return s;
  }
  RunResult tool(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), bin(name));
    return run(args, std::chrono::seconds(60));
  }

  std::string metrics_address_;
  int metrics_port_ = 0;
};

TEST_F(MetricsTest, ScrapedAndParsedCountersMoveWithTransfers) {
  ASSERT_NO_FATAL_FAILURE(start());
  const Scrape before = scrape();
  ASSERT_FALSE(before.json.is_null());
  EXPECT_EQ(before.json["status"], 200);
  EXPECT_EQ(before.json["content_type"], "text/plain; version=0.0.4; charset=utf-8");
  // Families and their types, as the parser read them (a counter's family
  // is named without its _total suffix).
  EXPECT_EQ(before.type("ft_connections"), "gauge");
  EXPECT_EQ(before.type("ft_requests"), "counter");
  EXPECT_EQ(before.type("ft_received_bytes"), "counter");
  EXPECT_EQ(before.type("ft_sent_bytes"), "counter");
  EXPECT_EQ(before.type("ft_commits"), "counter");
  EXPECT_EQ(before.type("ft_commit_sync_seconds"), "histogram");
  EXPECT_EQ(before.type("ft_partials_kept"), "gauge");
  EXPECT_EQ(before.type("ft_free_bytes"), "gauge");
  EXPECT_EQ(before.type("ft_identity_bytes"), "counter");
  EXPECT_GT(before.value("ft_free_bytes").value_or(0), 0);
  EXPECT_EQ(before.value("ft_identity_bytes_total", {{"identity", "-"}, {"direction", "in"}}), 0);
  EXPECT_EQ(before.value("ft_commits_total"), 0);

  constexpr std::uint64_t kSize = 300'000;
  write_random_file(work_ / "big.bin", kSize, 4);
  RunResult sent = tool("ftsend", {"-q", (work_ / "big.bin").string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  fs::create_directories(work_ / "down");
  RunResult got = tool("ftget", {"-q", remote("big.bin"), (work_ / "down").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  RunResult missing = tool("ftget", {"-q", remote("absent"), (work_ / "down").string()});
  EXPECT_NE(missing.exit_code, 0);

  const Scrape after = scrape();
  ASSERT_FALSE(after.json.is_null());
  EXPECT_EQ(after.value("ft_requests_total", {{"op", "put"}, {"result", "ok"}}), 1);
  EXPECT_EQ(after.value("ft_requests_total", {{"op", "get"}, {"result", "ok"}}), 1);
  double not_found = 0;
  for (const char* op : {"get", "stat"}) {
    not_found +=
        after.value("ft_requests_total", {{"op", op}, {"result", "NOT_FOUND"}}).value_or(0);
  }
  EXPECT_GE(not_found, 1);
  EXPECT_EQ(after.value("ft_identity_bytes_total", {{"identity", "-"}, {"direction", "in"}}),
            static_cast<double>(kSize));
  EXPECT_EQ(after.value("ft_identity_bytes_total", {{"identity", "-"}, {"direction", "out"}}),
            static_cast<double>(kSize));
  EXPECT_GE(after.value("ft_received_bytes_total").value_or(0), static_cast<double>(kSize));
  EXPECT_GE(after.value("ft_sent_bytes_total").value_or(0), static_cast<double>(kSize));
  EXPECT_GE(after.value("ft_connections_accepted_total").value_or(0), 3);
  EXPECT_EQ(after.value("ft_commits_total"), 1);
  EXPECT_GE(after.value("ft_commit_sync_seconds_count").value_or(0), 1);
  EXPECT_EQ(after.value("ft_commit_sync_seconds_bucket", {{"le", "+Inf"}}),
            after.value("ft_commit_sync_seconds_count"));
}

TEST_F(MetricsTest, PerIdentityBytesWithKeys) {
  const fs::path keys = work_ / "keys";
  std::string alice_key;
  for (const char* name : {"alice", "bob"}) {
    RunResult added = run({bin("ftserve"), "keys", "add", name, "--keys", keys.string(), "--rights",
                           "list,read,create,overwrite"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    if (std::string(name) == "alice") {
      write_private(work_ / "alice.key", added.out);
      alice_key = (work_ / "alice.key").string();
    }
  }
  ASSERT_NO_FATAL_FAILURE(start({"--keys", keys.string()}));
  write_random_file(work_ / "f.bin", 5000, 5);
  RunResult sent =
      tool("ftsend", {"-q", "--key-file", alice_key, (work_ / "f.bin").string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const Scrape after = scrape();
  EXPECT_EQ(after.value("ft_identity_bytes_total", {{"identity", "alice"}, {"direction", "in"}}),
            5000);
  EXPECT_EQ(after.value("ft_identity_bytes_total", {{"identity", "bob"}, {"direction", "in"}}), 0);
  // TLS records are larger than the file they carry.
  EXPECT_GT(after.value("ft_received_bytes_total").value_or(0), 5000);
}

TEST_F(MetricsTest, APartialFileKeptByACutUploadIsCounted) {
  ASSERT_NO_FATAL_FAILURE(start());
  constexpr std::uint32_t kChunk = 64 * 1024;
  write_random_file(work_ / "src", 4 * kChunk, 6);
  const std::string content = read_file(work_ / "src");
  {
    // A resumable upload cut after two chunks (docs/protocol.md 5.4).
    RawClient client(server_.port());
    client.send_hello(kCapResume);
    ASSERT_TRUE(client.read_hello());
    Bytes out;
    encode_put(out, 1,
               PutMsg{"cut.bin", content.size(), 0644, 1700000000000000000, kChunk, kPutResumable,
                      "host:1:2"});
    client.send(out);
    auto ready = client.read_frame();
    ASSERT_TRUE(ready && ready->header.type == FrameType::kPutReady);
    out.clear();
    for (std::uint64_t at = 0; at < 2 * kChunk; at += kChunk) {
      encode_data(out, 1, at,
                  ByteSpan(reinterpret_cast<const std::uint8_t*>(content.data()) + at, kChunk));
    }
    client.send(out);
  }
  // The access line of the cut upload is written in the turn that kept its
  // partial file.
  ASSERT_TRUE(server_.wait_for_err("op=put path=\"cut.bin\"")) << server_.err();
  const Scrape after = scrape();
  EXPECT_EQ(after.value("ft_partials_kept"), 1) << after.json.dump();
}

TEST_F(MetricsTest, OnlyGetMetricsIsServed) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(http_exchange(metrics_port_, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
                .rfind("HTTP/1.1 404 ", 0),
            0u);
  // The load balancer's check (docs/scale-out.md): 200 while serving.
  EXPECT_EQ(http_exchange(metrics_port_, "GET /health HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200 ", 0),
            0u);
  const std::string post = http_exchange(metrics_port_, "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET\r\n"), std::string::npos) << post;
  EXPECT_EQ(http_exchange(metrics_port_, "nonsense\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  // Exactly the cap, all of it read: a request larger still would be cut
  // off unread, and the peer would see a reset rather than the answer.
  std::string large = "GET /metrics HTTP/1.1\r\nX: ";
  large.append(4096 - large.size(), 'a');
  EXPECT_EQ(http_exchange(metrics_port_, large).rfind("HTTP/1.1 431 ", 0), 0u);
  const std::string ok = http_exchange(metrics_port_, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("\r\n\r\n# HELP ft_build_info "), std::string::npos) << ok;
}

TEST_F(MetricsTest, ConnectionsBeyondTheCapAreClosedAndStopIsClean) {
  ASSERT_NO_FATAL_FAILURE(start());
  // Four scrapers that never ask hold every place (MetricsHttpServer::
  // kMaxConnections); a fifth is closed without an answer. The teardown's
  // SIGTERM then closes the four and ftserve must still exit 0 with every
  // handle closed.
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(metrics_port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    idle.push_back(fd);
  }
  // The refusal needs the four accepted first; the server logs each one.
  std::string reply;
  for (int attempt = 0; attempt < 50; ++attempt) {
    reply = http_exchange(metrics_port_, "GET /metrics HTTP/1.1\r\n\r\n");
    if (reply.empty()) break;
  }
  EXPECT_EQ(reply, "");
  EXPECT_TRUE(server_.wait_for_err("metrics: more than 4 connections at once")) << server_.err();
  EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
  for (int fd : idle) ::close(fd);
}

TEST_F(MetricsTest, MetricsAddressInUseCannotListen) {
  ASSERT_NO_FATAL_FAILURE(start());
  RunResult second =
      run(ftserve_argv(work_.path(), {"--metrics", metrics_address_}), std::chrono::seconds(20));
  EXPECT_EQ(second.exit_code, 4) << second.err;
  EXPECT_NE(second.err.find("--metrics: cannot listen on"), std::string::npos) << second.err;
}

TEST_F(MetricsTest, KeyedDownloadToAStalledReaderHoldsLittleOfTheBudget) {
  // With keys a download's send queue stops at 2 MiB, half the plain mark
  // (docs/server.md, "Resource use"): a queued chunk is held as ciphertext
  // besides the plaintext chunk being read. A client that asks for 32 MiB
  // and reads nothing leaves the server holding the queue and a chunk
  // buffer (ft_memory_used_bytes: 3.0 MiB; 5.0 MiB with the 4 MiB mark).
  const std::string keys = (work_ / "keys").string();
  RunResult added =
      tool("ftserve", {"keys", "add", "reader", "--keys", keys, "--rights", "list,read"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  write_random_file(root_.path() / "big.bin", 32 << 20, 7);
  ASSERT_NO_FATAL_FAILURE(start({"--keys", keys}));
  RawClientOptions options = keyed(added.out);
  ASSERT_TRUE(options.tls);
  RawClient client(server_.port(), options);
  ASSERT_TRUE(client.connected());
  Bytes get;
  encode_hello(get, Hello{kProtocolVersion, kProtocolVersion, 0});
  encode_get(get, 1, GetMsg{"big.bin", 0});
  ASSERT_TRUE(client.send(get));
  ASSERT_TRUE(client.read_hello());
  // The socket buffers fill, then the queue reaches its mark and the
  // server stops reading the file: the figure settles.
  double used = -1;
  for (int i = 0; i < 50; ++i) {
    const double now = scrape().value("ft_memory_used_bytes").value_or(-1);
    if (now > 0 && now == used) break;
    used = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("ftserve --keys, stalled 32 MiB download: ft_memory_used_bytes %.0f\n", used);
  EXPECT_GT(used, 0);
  EXPECT_LE(used, 4 << 20);
}

}  // namespace
}  // namespace ft::testing
