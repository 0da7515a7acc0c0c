#pragma once
// Close-once owners for libuv handles (libuv's own rule, and STYLE.md 8):
// the handle lives in a heap block of its own, `close()` may be called any
// number of times, the block is freed only in the close callback, and the
// owner's destructor asserts that the handle was closed instead of closing
// it (a handle still open at that point is a bug that uv_loop_close would
// report too).
#include <uv.h>

#include <cassert>
#include <memory>
#include <type_traits>
#include <utility>

namespace ft::uvx {

/// One libuv handle of type T (uv_tcp_t, uv_timer_t, uv_check_t, ...).
/// `handle->data` is the owner's: set it with `set_data`. Not copyable or
/// movable: libuv keeps pointers to the handle, and callbacks find their
/// owner through `data`.
template <typename T>
class Handle {
 public:
  Handle() = default;
  ~Handle() {
    // Closed (or never initialised): the block is libuv's until its close
    // callback, which frees it.
    assert(block_ == nullptr);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  /// Initialises the handle with `init(loop, handle, args...)` (uv_tcp_init,
  /// uv_timer_init, ...). Returns its libuv status; on failure there is
  /// nothing to close.
  template <typename Init, typename... Args>
  int init(uv_loop_t* loop, Init init, Args&&... args) {
    assert(block_ == nullptr);
    auto block = std::make_unique<Block>();
    const int rc = init(loop, &block->handle, std::forward<Args>(args)...);
    if (rc != 0) return rc;
    block_ = block.release();
    return 0;
  }

  /// The handle while open; null once closed (a use after close is a
  /// loud null dereference, not a read of freed memory).
  T* get() const { return block_ == nullptr ? nullptr : &block_->handle; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(get()); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(get()); }
  void set_data(void* data) { block_->handle.data = data; }
  bool open() const { return block_ != nullptr; }

  /// Closes the handle once; later calls do nothing. `on_closed(context)`,
  /// if given, runs from libuv's close callback, after every pending
  /// callback of the handle (for a stream: its writes, with UV_ECANCELED),
  /// just before the memory is freed. It must not throw.
  void close(void (*on_closed)(void* context) = nullptr, void* context = nullptr) {
    if (block_ == nullptr) return;
    Block* block = std::exchange(block_, nullptr);
    block->on_closed = on_closed;
    block->context = context;
    uv_close(reinterpret_cast<uv_handle_t*>(&block->handle), &Handle::closed);
  }

 private:
  // The handle comes first and the block is standard-layout: the close
  // callback finds its block from the handle's address, since `data`
  // belongs to the owner.
  struct Block {
    T handle{};
    void (*on_closed)(void*) = nullptr;
    void* context = nullptr;
  };
  static_assert(std::is_standard_layout_v<Block>);

  static void closed(uv_handle_t* handle) noexcept {
    std::unique_ptr<Block> block(reinterpret_cast<Block*>(handle));
    if (block->on_closed != nullptr) block->on_closed(block->context);
  }

  Block* block_ = nullptr;
};

}  // namespace ft::uvx
