#pragma once
// Watches the test binary's heap: the global operator new is replaced (in
// allocation_probe.cpp) so a test can assert that decoding a hostile length
// allocated nothing large.
#include <cstddef>

namespace ft::test {

/// Forgets every allocation seen so far.
void reset_allocation_probe();
/// Size in bytes of the largest single allocation since the last reset.
std::size_t largest_allocation();

}  // namespace ft::test
