#include "server/cli/log_options.hpp"

#include <unistd.h>

#include <cstdio>

#include "common/rules/errors.hpp"
#include "server/log/log.hpp"

namespace ft::server {

void add_log_options(CLI::App& app, LogOptions& options) {
  app.add_option("--log-level", options.level,
                 "error, warn, info or debug: the least severe lines written")
      ->capture_default_str();
  app.add_option("--log-format", options.format,
                 "text (RFC 3339 time, level, message) or json (one object per line)")
      ->capture_default_str();
  // The access log is on by default: it is what an admin reads to answer
  // "who wrote this file, and when" (rsync's and rest-server's logs do the
  // same), and it is cheap (buffered, no syscall per line).
  app.add_option("--access-log", options.access_log,
                 "on or off: one info line per finished request (identity, operation, path,\n"
                 "bytes, duration, result)")
      ->capture_default_str();
  app.add_option("--metrics", options.metrics,
                 "ADDR:PORT to serve Prometheus metrics on (GET /metrics); UNAUTHENTICATED:\n"
                 "bind it to 127.0.0.1 or a management network")
      ->capture_default_str();
}

int apply_log_options(LogOptions& options) {
  const int usage = static_cast<int>(Exit::kUsage);
  log::Settings settings;
  auto level = log::parse_level(options.level);
  if (!level) {
    std::fprintf(stderr, "ftserve: --log-level %s: expected error, warn, info or debug\n",
                 options.level.c_str());
    return usage;
  }
  auto format = log::parse_format(options.format);
  if (!format) {
    std::fprintf(stderr, "ftserve: --log-format %s: expected text or json\n",
                 options.format.c_str());
    return usage;
  }
  if (options.access_log != "on" && options.access_log != "off") {
    std::fprintf(stderr, "ftserve: --access-log %s: expected on or off\n",
                 options.access_log.c_str());
    return usage;
  }
  if (!options.metrics.empty()) {
    std::string why;
    options.metrics_address = parse_listen(options.metrics, why);
    if (!options.metrics_address) {
      std::fprintf(stderr, "ftserve: --metrics %s: %s\n", options.metrics.c_str(), why.c_str());
      return usage;
    }
  }
  settings.level = *level;
  settings.format = *format;
  settings.access = options.access_log == "on";
  settings.journal = log::is_journal_stream(STDERR_FILENO);
  log::configure(settings);
  return 0;
}

}  // namespace ft::server
