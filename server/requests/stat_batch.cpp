#include "server/requests/stat_batch.hpp"

#include <memory>
#include <vector>

#include "server/core/request_context.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

void StatBatcher::add(std::function<void()> work, std::function<void()> done) {
  waiting_.push_back(Stat{std::move(work), std::move(done)});
  if (!in_line_) start();
}

void StatBatcher::start() {
  in_line_ = true;
  // The reference keeps the connection (and this member of it) while the
  // batch waits for its place.
  context_.start_listing([this, ref = ContextRef(context_)] { run(); }, false);
}

void StatBatcher::run() {
  auto batch = std::make_shared<std::vector<Stat>>();
  while (!waiting_.empty() && batch->size() < kMaxStatsPerJob) {
    batch->push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  queue_job(
      context_.loop(),
      [batch] {
        for (Stat& stat : *batch) stat.work();
      },
      [this, ref = ContextRef(context_), batch] {
        context_.listing_job_done(false);
        for (Stat& stat : *batch) stat.done();
        context_.listing_finished();
        in_line_ = false;
        if (!waiting_.empty()) start();
      });
}

}  // namespace ft::server
