#pragma once
// The TLS engine's ciphertext queues and the OpenSSL BIO that reads and
// writes them (tls_engine.cpp's plumbing, apart so that the engine reads in
// one sitting). Internal to common/crypto.
#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>

#include "common/base/bytes.hpp"

namespace ft::tls_detail {

/// Bytes waiting in one direction: appended at the back, consumed from the
/// front. Unlike a BIO_s_mem it never wipes on growth and lets the engine
/// hand its storage out without a copy.
struct ByteQueue {
  Bytes data;
  std::size_t head = 0;
  bool release_when_drained = false;

  std::size_t size() const { return data.size() - head; }
  const std::uint8_t* front() const { return data.data() + head; }
  void append(const std::uint8_t* p, std::size_t n) {
    // Reclaim the consumed prefix before growing past the capacity.
    if (head != 0 && (head == data.size() || data.size() + n > data.capacity())) compact();
    data.insert(data.end(), p, p + n);
  }
  void consume(std::size_t n) {
    head += n;
    if (head == data.size()) {
      // Drained: storage past kKeptCapacity may go back to the allocator, so
      // that an idle connection holds no burst's worth of ciphertext (a
      // server keeps a thousand of them).
      if (release_when_drained && data.capacity() > kKeptCapacity) {
        Bytes().swap(data);
      } else {
        data.clear();
      }
      head = 0;
    }
  }
  static constexpr std::size_t kKeptCapacity = 4 * 1024;
  void compact() {
    data.erase(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
};

/// The BIO method over a ByteQueue the BIO does not own (BIO_set_data):
/// created once, never freed.
const BIO_METHOD* queue_method();

}  // namespace ft::tls_detail
