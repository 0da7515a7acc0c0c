#include "server/cli/balancer_options.hpp"

#include <cstdio>

#include "common/rules/duration.hpp"
#include "common/rules/errors.hpp"

namespace ft::server {

void add_balancer_options(CLI::App& app, BalancerOptions& options) {
  app.add_option("--proxy-protocol", options.proxy_protocol,
                 "ADDR[/BITS][,...]: connections from these addresses (the load balancer)\n"
                 "must open with a PROXY protocol v2 (or v1) header naming the real client;\n"
                 "from any other address such a header is a protocol error");
  app.add_option("--drain-timeout", options.drain_timeout,
                 "on SIGTERM stop accepting, let requests in flight finish for at most this\n"
                 "long, then exit (0: cut them at once, as SIGINT does); GET /health on\n"
                 "--metrics answers 503 meanwhile")
      ->capture_default_str();
}

int apply_balancer_options(const BalancerOptions& options, ServerOptions& server,
                           const std::function<std::string(const char*)>& where) {
  std::string why;
  if (!options.proxy_protocol.empty()) {
    auto ranges = parse_address_ranges(options.proxy_protocol, why);
    if (!ranges) {
      std::fprintf(stderr, "ftserve: %s--proxy-protocol %s: %s\n",
                   where("--proxy-protocol").c_str(), options.proxy_protocol.c_str(), why.c_str());
      return static_cast<int>(Exit::kUsage);
    }
    server.proxy_from = std::move(*ranges);
  }
  auto drain = parse_duration_ms(options.drain_timeout);
  if (!drain) {
    std::fprintf(stderr, "ftserve: %s--drain-timeout %s: expected a duration like 90s\n",
                 where("--drain-timeout").c_str(), options.drain_timeout.c_str());
    return static_cast<int>(Exit::kUsage);
  }
  server.drain_timeout = *drain;
  return 0;
}

}  // namespace ft::server
