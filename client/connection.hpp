#pragma once
// The client's end of one TCP connection: a non-blocking socket connected
// with a deadline, a queue of owned outgoing frames written with sendmsg(),
// and receiving straight into a FrameDecoder's write area. No event loop:
// the Session polls fd() and calls flush() and receive().
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "frame.hpp"

namespace ft::client {

/// Outcome of one flush() or receive().
enum class IoResult {
  kProgress,    // some bytes moved
  kWouldBlock,  // nothing to do until poll() says so
  kClosed,      // receive(): the peer closed its side (end of stream)
  kError,       // see Connection::last_error()
};

class Connection {
 public:
  /// Connects to host:port, trying each address getaddrinfo() gives (IPv6
  /// and IPv4) until one accepts, all within `timeout`. On failure returns
  /// nullopt and sets `why` (e.g. "Connection refused").
  static std::optional<Connection> open(const std::string& host, std::uint16_t port,
                                        std::chrono::milliseconds timeout, std::string& why);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  int fd() const { return fd_; }

  /// Queues a whole encoded frame (or the hello); `request_id` tags it for
  /// drop_unsent().
  void queue(Bytes bytes, std::uint32_t request_id = 0);
  /// Queues a DATA frame as its 28-byte head and the chunk it carries; both
  /// are written from where they lie, with no copy.
  void queue_data(std::uint32_t request_id, Bytes head, Bytes chunk);
  /// Forgets the frames of `request_id` not yet started on the wire.
  void drop_unsent(std::uint32_t request_id);
  bool has_output() const { return !queue_.empty(); }
  /// Bytes of DATA chunks waiting in the queue (the upload backpressure).
  std::size_t queued_chunk_bytes() const { return queued_chunk_bytes_; }
  /// A chunk buffer whose frame was written, for reuse (empty if none).
  Bytes take_spare_buffer();

  /// Writes as much of the queue as the socket accepts.
  IoResult flush();
  /// Receives once into the decoder's write area and commits the bytes.
  IoResult receive(FrameDecoder& decoder);
  /// errno of the last kError.
  int last_error() const { return last_error_; }

 private:
  explicit Connection(int fd) : fd_(fd) {}
  struct Outgoing {
    std::uint32_t request_id = 0;
    Bytes head;
    Bytes body;
    std::size_t sent = 0;  // bytes of head then body already written
    std::size_t size() const { return head.size() + body.size(); }
  };
  void close();

  int fd_ = -1;
  std::deque<Outgoing> queue_;
  std::size_t queued_chunk_bytes_ = 0;
  std::vector<Bytes> spare_;
  int last_error_ = 0;
};

/// "host:port", with brackets around an IPv6 host.
std::string host_port_text(const std::string& host, std::uint16_t port);

}  // namespace ft::client
