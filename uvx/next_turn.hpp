#pragma once
// Work deferred to the next turn of the loop: a completion is never called
// from the function that started the operation (STYLE.md 12), and a dying
// connection is freed after the callback that ended it returned. Costs no
// thread-pool job: an idle handle runs the queue once, then stops.
#include <uv.h>

#include <functional>
#include <vector>

#include "uvx/handle.hpp"

namespace ft::uvx {

class NextTurn {
 public:
  explicit NextTurn(uv_loop_t* loop);
  NextTurn(const NextTurn&) = delete;
  NextTurn& operator=(const NextTurn&) = delete;

  /// Runs `task` on a later turn of the loop, after the current callback
  /// returned, in the order deferred. A task that throws is logged and
  /// dropped; after close(), tasks are dropped.
  void defer(std::function<void()> task);
  /// Closes the handle; tasks still queued are dropped (destroyed) now,
  /// and later ones at once.
  void close();

 private:
  static void on_idle(uv_idle_t* idle) noexcept;

  Handle<uv_idle_t> idle_;
  std::vector<std::function<void()>> tasks_;
  bool armed_ = false;
};

}  // namespace ft::uvx
