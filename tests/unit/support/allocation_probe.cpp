#include "allocation_probe.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace ft::test {
namespace {

std::atomic<std::size_t> g_largest{0};

void note(std::size_t size) {
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (size > seen && !g_largest.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
  }
}

void* allocate(std::size_t size) {
  note(size);
  // malloc(0) may return null; operator new must not.
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

}  // namespace

void reset_allocation_probe() {
  g_largest.store(0, std::memory_order_relaxed);
}
std::size_t largest_allocation() {
  return g_largest.load(std::memory_order_relaxed);
}

}  // namespace ft::test

// Replacements of the global allocation functions (all unaligned forms), so
// that every allocation of the binary, including inside ft_common, is seen.
void* operator new(std::size_t size) {
  return ft::test::allocate(size);
}
void* operator new[](std::size_t size) {
  return ft::test::allocate(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
