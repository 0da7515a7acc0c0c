#pragma once
// HAProxy's PROXY protocol header (version 2, binary; version 1, text), the
// few bytes a load balancer sends before the client's own, naming the
// client it connects for (docs/protocol.md, section 2.1). A pure parser in
// the picohttpparser manner: fed bytes, it answers "need more", "done"
// (with how many bytes the header took) or a sticky, located error. It
// never consumes a byte past the header, and says how many bytes the caller
// may read without passing its end (max_read), so a server can read
// exactly the header and leave the client's first bytes in the socket.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base/bytes.hpp"

namespace ft {

/// What a PROXY header says about the connection.
struct ProxyHeader {
  int version = 0;  // 1 or 2
  /// The balancer speaks for itself (v2 LOCAL, such as a health check, or
  /// v1 UNKNOWN, or an address family ft does not map): the connection's
  /// own address stands.
  bool local = false;
  std::string source_host;  // "192.0.2.1", "2001:db8::1" (no brackets)
  std::uint16_t source_port = 0;
};

class ProxyHeaderParser {
 public:
  enum class Status { kNeedMore, kDone, kError };

  /// v2: 16 fixed bytes, then at most this many address and TLV bytes
  /// (HAProxy's send-proxy-v2 sends 12 for IPv4, 36 for IPv6, TLVs only
  /// when configured). Checked before anything is kept.
  static constexpr std::size_t kMaxV2Payload = 1024;
  /// v1: "PROXY ... \r\n", 107 bytes at most (the specification's bound).
  static constexpr std::size_t kMaxV1Length = 107;
  static constexpr std::size_t kV2FixedLength = 16;

  /// Consumes bytes of `input` up to the end of the header at most;
  /// `consumed` says how many. kDone once the whole header is in.
  Status feed(ByteSpan input, std::size_t& consumed);
  /// The stream ended: kError ("truncated") unless the header was complete.
  Status finish();
  /// Bytes that may be read from the stream without passing the header's
  /// end (at least 1 while kNeedMore; 0 once done or failed).
  std::size_t max_read() const;

  Status status() const { return status_; }
  const ProxyHeader& header() const { return header_; }
  /// Why the header was refused, and at which byte offset.
  const std::string& error() const { return error_; }
  std::size_t error_offset() const { return error_offset_; }

 private:
  Status fail(std::size_t offset, std::string reason);
  Status parse_v2();
  Status parse_v1();

  Status status_ = Status::kNeedMore;
  Bytes buffer_;  // the header so far (at most 16 + kMaxV2Payload bytes)
  std::size_t v2_total_ = 0;  // v2: the whole header's length, once known
  ProxyHeader header_;
  std::string error_;
  std::size_t error_offset_ = 0;
};

}  // namespace ft
