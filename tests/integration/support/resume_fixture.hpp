#pragma once
// A GoogleTest fixture for the resume and fault tests (issue 4): a real
// ftserve on 127.0.0.1 port 0 that a test may kill and restart over the same
// root, plus fault-injecting ft_test_proxy instances in front of it whose
// per-connection byte reports tell how much a transfer really moved.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/rules/errors.hpp"
#include "harness.hpp"
#include "server_fixture.hpp"

namespace ft::testing {

inline constexpr std::uint64_t kMiB = 1024 * 1024;
inline constexpr int kExitLocalFile = static_cast<int>(Exit::kLocalFile);
inline constexpr int kExitConnection = static_cast<int>(Exit::kConnection);
inline constexpr int kExitRemoteRefused = static_cast<int>(Exit::kRemoteRefused);
inline constexpr int kExitServerError = static_cast<int>(Exit::kServerError);
inline constexpr int kExitChecksum = static_cast<int>(Exit::kChecksum);

/// What one command did through a proxy: its result and the proxy's stderr
/// (complete, the proxy was stopped), which holds the byte reports.
struct ProxiedRun {
  RunResult result;
  std::string proxy_err;
  /// Bytes of the proxy's connection `k` (1 = the first); zeros if none.
  ProxyTraffic traffic(int k = 1) const {
    return proxy_traffic(proxy_err, k).value_or(ProxyTraffic{});
  }
};

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(start_server()); }

  void TearDown() override {
    if (server_) {
      int status = server_->stop(SIGTERM);
      EXPECT_EQ(status, 0) << server_->err();
    }
  }

  /// Starts ftserve over root_ (again, after stop_server()), on `port`
  /// (0: any free one).
  void start_server(const std::vector<std::string>& extra = {}, int port = 0) {
    server_ = std::make_unique<ListeningProcess>();
    start_ftserve(*server_, root_.path(), extra, port);
  }

  /// Stops ftserve with `signal`; returns everything every server of this
  /// test logged so far. SIGTERM must end it with status 0.
  std::string stop_server(int signal = SIGTERM) {
    if (server_) {
      int status = server_->stop(signal);
      if (signal == SIGTERM) {
        EXPECT_EQ(status, 0) << server_->err();
      }
      server_log_ += server_->err();
      server_.reset();
    }
    return server_log_;
  }

  std::string server_address() const { return loopback_remote(server_->port()); }
  std::string remote(const std::string& path = "") const {
    return loopback_remote(server_->port(), path);
  }

  /// A proxy in front of the running server, with `faults` (may be empty).
  std::unique_ptr<ListeningProcess> start_proxy(const std::vector<std::string>& faults) {
    std::vector<std::string> argv = {bin("ft_test_proxy"), "--target", server_address()};
    argv.insert(argv.end(), faults.begin(), faults.end());
    auto proxy = std::make_unique<ListeningProcess>();
    std::string error;
    EXPECT_TRUE(proxy->start(argv, error)) << error;
    return proxy;
  }
  static std::string via(const ListeningProcess& proxy, const std::string& path) {
    return loopback_remote(proxy.port(), path);
  }

  /// Runs command(proxy address) through a fresh proxy with `faults`, then
  /// stops the proxy to collect its byte reports.
  ProxiedRun run_through_proxy(
      const std::vector<std::string>& faults,
      const std::function<std::vector<std::string>(const std::string& proxy_address)>& command) {
    ProxiedRun proxied;
    auto proxy = start_proxy(faults);
    if (proxy->pid() <= 0) return proxied;
    proxied.result = run(command(loopback_remote(proxy->port())));
    proxy->stop(SIGTERM);
    proxied.proxy_err = proxy->err();
    return proxied;
  }

  /// Runs `argv` again while the server refuses it with BUSY: right after a
  /// client is killed, the server may not have seen its connection end yet.
  /// Bounded in attempts and time; each attempt is a real round trip.
  static RunResult run_while_busy(const std::vector<std::string>& argv) {
    RunResult result;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int attempt = 0; attempt < 50; ++attempt) {
      result = run(argv);
      bool busy =
          result.exit_code == kExitServerError && result.err.find("BUSY") != std::string::npos;
      if (!busy || std::chrono::steady_clock::now() > until) break;
    }
    return result;
  }

  /// Waits (bounded) until a file named `prefix`* under `dir` holds at least
  /// `size` bytes; returns the largest size seen.
  static std::uint64_t wait_for_partial(const fs::path& dir, const std::string& prefix,
                                        std::uint64_t size) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    std::uint64_t seen = largest_with_prefix(dir, prefix);
    for (int check = 0; check < 3000 && seen < size; ++check) {
      if (std::chrono::steady_clock::now() > until) break;
      // A file system check, not a synchronisation: the loop ends on the
      // condition, the pause only keeps it from spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      seen = largest_with_prefix(dir, prefix);
    }
    return seen;
  }

  TempDir root_;
  TempDir work_;
  std::unique_ptr<ListeningProcess> server_;
  std::string server_log_;
};

}  // namespace ft::testing
