#include "uvx/next_turn.hpp"

#include <cstdio>
#include <exception>

namespace ft::uvx {

NextTurn::NextTurn(uv_loop_t* loop) {
  idle_.init(loop, uv_idle_init);
  idle_.set_data(this);
}

void NextTurn::defer(std::function<void()> task) {
  if (!idle_.open()) return;
  tasks_.push_back(std::move(task));
  if (armed_) return;
  // An active idle handle also keeps the loop from blocking in poll while
  // tasks wait.
  uv_idle_start(idle_.get(), on_idle);
  armed_ = true;
}

void NextTurn::close() {
  idle_.close();
  // Destroyed outside the member: a task's destructor may defer again.
  std::vector<std::function<void()>> dropped;
  dropped.swap(tasks_);
}

void NextTurn::on_idle(uv_idle_t* idle) noexcept {
  auto* self = static_cast<NextTurn*>(idle->data);
  if (self->tasks_.empty()) {
    // The turn after the last tasks ran: nothing left, stop.
    uv_idle_stop(idle);
    self->armed_ = false;
    return;
  }
  // The handle stays armed for one more turn: what the tasks started for
  // the end of this turn (a check handle that sends replies) must not wait
  // in poll, which an active idle handle keeps from blocking. Tasks
  // deferred while these run wait for the next turn.
  std::vector<std::function<void()>> tasks;
  tasks.swap(self->tasks_);
  for (auto& task : tasks) {
    try {
      task();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ftserve: deferred task failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "ftserve: deferred task failed\n");
    }
  }
}

}  // namespace ft::uvx
