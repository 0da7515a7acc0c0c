#pragma once
// ftserve's options for running behind a load balancer (--proxy-protocol,
// --drain-timeout; docs/scale-out.md): declared on the command line here,
// checked and copied into ServerOptions after parsing.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "server/core/server_options.hpp"

namespace ft::server {

struct BalancerOptions {
  std::string proxy_protocol;  // ADDR[/BITS][,...], "" for none
  std::string drain_timeout = "90s";
};

/// Declares the options on `app`, filling `options` when it parses.
void add_balancer_options(CLI::App& app, BalancerOptions& options);

/// Checks the values into `server`. Returns 0, or the usage exit status
/// after printing what is wrong (`where` names the --config line, if any).
int apply_balancer_options(const BalancerOptions& options, ServerOptions& server,
                           const std::function<std::string(const char*)>& where);

}  // namespace ft::server
