// The Server's side of --metrics: what a scrape reads from it (metrics/
// holds the registry, the text and the HTTP responder).
#include <memory>

#include "server/metrics/metrics.hpp"
#include "server/metrics/metrics_http.hpp"
#include "server/net/server.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

int Server::serve_metrics(const RemoteSpec& address, std::string& bound) {
  metrics_http_ = std::make_unique<MetricsHttpServer>(
      loop_, [this](std::function<void(std::string)> done) { collect_metrics(std::move(done)); },
      [this] { return !draining(); });
  return metrics_http_->listen(address, bound);
}

void Server::collect_metrics(std::function<void(std::string body)> done) {
  MetricsGauges gauges;
  gauges.connections = connections_;
  for (const auto& [owner, kept] : kept_per_owner_) gauges.partials_kept += kept;
  gauges.memory_used = budget_.used();
  gauges.memory_limit = budget_.limit();
  // fstatvfs may wait on the disk (or a network file system): never on the
  // loop. The server outlives its jobs (the loop runs them dry first).
  auto space = std::make_shared<FreeSpace>();
  auto err = std::make_shared<int>(0);
  const int root = root_.get();
  queue_job(
      loop_, [root, space, err] { *err = free_space(root, *space); },
      [gauges, space, err, done = std::move(done)]() mutable {
        if (*err == 0) {
          gauges.free_bytes = space->bytes;
          if (space->inodes_counted) gauges.free_inodes = space->inodes;
        }
        done(render_prometheus(metrics(), gauges));
      });
}

}  // namespace ft::server
