// libFuzzer target: the PROXY header parser (common/wire/proxy_header.hpp)
// on arbitrary bytes, fed whole and again in pieces of max_read() bytes as
// the server reads them. Traps when the two disagree, when a verdict
// consumes past the header, or when a parsed source is not an address.
#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <string>

#include "common/wire/proxy_header.hpp"

namespace {

using namespace ft;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(data, size);
  ProxyHeaderParser whole;
  std::size_t whole_consumed = 0;
  ProxyHeaderParser::Status whole_status = whole.feed(input, whole_consumed);
  check(whole_consumed <= size);
  if (whole_status == ProxyHeaderParser::Status::kNeedMore) {
    check(whole_consumed == size);
    whole_status = whole.finish();
  }

  ProxyHeaderParser pieces;
  std::size_t at = 0;
  ProxyHeaderParser::Status status = ProxyHeaderParser::Status::kNeedMore;
  while (at < size && status == ProxyHeaderParser::Status::kNeedMore) {
    const std::size_t limit = pieces.max_read();
    check(limit > 0);
    std::size_t consumed = 0;
    const std::size_t piece = std::min(limit, size - at);
    status = pieces.feed(input.subspan(at, piece), consumed);
    check(consumed <= piece);
    at += consumed;
  }
  if (status == ProxyHeaderParser::Status::kNeedMore) status = pieces.finish();

  check(status == whole_status);
  if (status == ProxyHeaderParser::Status::kDone) {
    check(at == whole_consumed);
    const ProxyHeader& header = pieces.header();
    check(header.source_host == whole.header().source_host);
    if (!header.local) {
      std::array<std::uint8_t, 16> address{};
      check(::inet_pton(AF_INET, header.source_host.c_str(), address.data()) == 1 ||
            ::inet_pton(AF_INET6, header.source_host.c_str(), address.data()) == 1);
    }
  } else {
    check(pieces.error_offset() == whole.error_offset());
  }
  return 0;
}
