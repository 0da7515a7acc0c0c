#include "common/crypto/queue_bio.hpp"

#include <algorithm>
#include <cstring>

namespace ft::tls_detail {
namespace {

// A BIO over a ByteQueue it does not own. Reading an empty queue asks for a
// retry (the engine has not been fed yet), never signals end of file.
int queue_write(BIO* bio, const char* data, int size) {
  if (size <= 0) return 0;
  static_cast<ByteQueue*>(BIO_get_data(bio))
      ->append(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size));
  return size;
}

int queue_read(BIO* bio, char* out, int size) {
  auto* queue = static_cast<ByteQueue*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  if (queue->size() == 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  std::size_t n = std::min(queue->size(), static_cast<std::size_t>(size));
  std::memcpy(out, queue->front(), n);
  queue->consume(n);
  return static_cast<int>(n);
}

long queue_ctrl(BIO* bio, int cmd, long, void*) {
  auto* queue = static_cast<ByteQueue*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(queue->size());
    case BIO_CTRL_WPENDING:
      return 0;
    case BIO_CTRL_EOF:
      return 0;
    default:
      return 0;
  }
}

int queue_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int queue_destroy(BIO*) {
  return 1;
}

}  // namespace

// Created once, never freed: it outlives every SSL object, and a method
// freed at exit would race OpenSSL's own atexit cleanup.
const BIO_METHOD* queue_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ft byte queue");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, queue_write);
    BIO_meth_set_read(m, queue_read);
    BIO_meth_set_ctrl(m, queue_ctrl);
    BIO_meth_set_create(m, queue_create);
    BIO_meth_set_destroy(m, queue_destroy);
    return m;
  }();
  return method;
}

}  // namespace ft::tls_detail
