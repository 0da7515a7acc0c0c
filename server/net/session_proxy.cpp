// Session behind a load balancer (--proxy-protocol, docs/scale-out.md): the
// PROXY header a listed balancer sends before its client's first byte, and
// the refusal of one from anybody else; and the session's part of a drain.
#include <string>

#include "server/log/log.hpp"
#include "server/net/server.hpp"
#include "server/net/session.hpp"

namespace ft::server {
namespace {

// The first bytes of a version 2 signature and of a version 1 line.
constexpr std::uint8_t kV2Start[4] = {0x0D, 0x0A, 0x0D, 0x0A};
constexpr char kV1Start[] = "PROXY ";

// The whole prefix, in the first read: a first read of "P" may be HTTP's
// PUT, which is closed without a word as any bad magic is (a PROXY header
// trickled in byte by byte is too).
bool starts_like(ByteSpan bytes, const std::uint8_t* prefix, std::size_t length) {
  return bytes.size() >= length &&
         std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length), prefix);
}

}  // namespace

void Session::handle_proxy_header(ByteSpan bytes) {
  std::size_t consumed = 0;
  const ProxyHeaderParser::Status status = proxy_->feed(bytes, consumed);
  if (status == ProxyHeaderParser::Status::kNeedMore) return;
  if (status == ProxyHeaderParser::Status::kError || consumed != bytes.size()) {
    // Nothing can be said to the client: the bytes came from the balancer.
    log::warn("peer=%s: %s (a --proxy-protocol address must send one), closing", peer_.c_str(),
              proxy_->error().c_str());
    close(ErrorCode::PROTOCOL, proxy_->error(), false);
    return;
  }
  const ProxyHeader& header = proxy_->header();
  if (!header.local) {
    const std::string balancer = peer_;
    peer_host_ = header.source_host;
    const bool v6 = header.source_host.find(':') != std::string::npos;
    peer_ = (v6 ? "[" + header.source_host + "]" : header.source_host) + ":" +
            std::to_string(header.source_port);
    log::debug("peer=%s: through %s (PROXY v%d)", peer_.c_str(), balancer.c_str(), header.version);
  }
  proxy_.reset();
  proxy_area_ = Bytes();
  admit_peer();
}

bool Session::refuse_unexpected_proxy_header(ByteSpan first_bytes) {
  if (!starts_like(first_bytes, kV2Start, sizeof kV2Start) &&
      !starts_like(first_bytes, reinterpret_cast<const std::uint8_t*>(kV1Start),
                   sizeof kV1Start - 1)) {
    return false;
  }
  log::warn("peer=%s: a PROXY protocol header from an address not in --proxy-protocol, closing",
            peer_.c_str());
  refuse(ErrorCode::PROTOCOL,
         "a PROXY protocol header from " + peer_host_ + ", which is not in --proxy-protocol");
  return true;
}

void Session::drain() {
  if (closing()) return;
  if (phase_ != Phase::kServing || requests_.empty()) {
    close(ErrorCode::SHUTTING_DOWN, "server is shutting down", true);
  }
  // Else admit_request refuses what comes, and finish_request closes once
  // the last request in flight is done.
}

}  // namespace ft::server
