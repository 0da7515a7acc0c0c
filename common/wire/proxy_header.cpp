#include "common/wire/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>
#include <vector>

namespace ft {
namespace {

constexpr std::array<std::uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";
// "PROXY UNKNOWN\r\n", the shortest v1 header: this many bytes can always
// be read before knowing which version comes.
constexpr std::size_t kV1MinLength = 15;

constexpr std::uint8_t kCommandLocal = 0x0;
constexpr std::uint8_t kCommandProxy = 0x1;
constexpr std::uint8_t kFamilyInet = 0x1;
constexpr std::uint8_t kFamilyInet6 = 0x2;
constexpr std::uint8_t kTransportStream = 0x1;
constexpr std::size_t kInetAddresses = 12;   // two IPv4 addresses, two ports
constexpr std::size_t kInet6Addresses = 36;  // two IPv6 addresses, two ports
static_assert(kInet6Addresses <= ProxyHeaderParser::kMaxV2Payload);

std::string host_text(int family, const std::uint8_t* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, address, text, sizeof text) == nullptr) return {};
  return text;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value > 65535) {
    return false;
  }
  if (text.size() > 1 && text[0] == '0') return false;  // the specification forbids leading zeros
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

ProxyHeaderParser::Status ProxyHeaderParser::fail(std::size_t offset, std::string reason) {
  status_ = Status::kError;
  error_offset_ = offset;
  error_ = "PROXY header: " + std::move(reason) + " (at byte " + std::to_string(offset) + ")";
  return status_;
}

std::size_t ProxyHeaderParser::max_read() const {
  if (status_ != Status::kNeedMore) return 0;
  const std::size_t have = buffer_.size();
  if (have == 0) return kV1MinLength;
  if (buffer_[0] == kV2Signature[0]) {
    if (v2_total_ == 0) return kV2FixedLength - have;
    return v2_total_ - have;
  }
  // v1 ends at its first "\r\n", wherever that is: past the shortest
  // header, one byte at a time (a balancer sends it once per connection).
  return have < kV1MinLength ? kV1MinLength - have : 1;
}

ProxyHeaderParser::Status ProxyHeaderParser::feed(ByteSpan input, std::size_t& consumed) {
  consumed = 0;
  while (status_ == Status::kNeedMore && consumed < input.size()) {
    const std::size_t offset = buffer_.size();
    const std::uint8_t byte = input[consumed++];
    buffer_.push_back(byte);
    if (offset == 0 && byte != kV2Signature[0] && byte != static_cast<std::uint8_t>(kV1Prefix[0])) {
      return fail(0, "neither version 1 (\"PROXY \") nor version 2 (its signature)");
    }
    if (buffer_[0] == kV2Signature[0]) {
      if (offset < kV2Signature.size()) {
        if (byte != kV2Signature[offset]) return fail(offset, "not the version 2 signature");
        continue;
      }
      if (offset == 12 && (byte >> 4) != 2) {
        return fail(offset, "version " + std::to_string(byte >> 4) + ", expected 2");
      }
      if (offset == 12 && (byte & 0x0F) != kCommandLocal && (byte & 0x0F) != kCommandProxy) {
        return fail(offset, "command " + std::to_string(byte & 0x0F) + ", expected LOCAL or PROXY");
      }
      if (offset + 1 == kV2FixedLength) {
        const std::size_t length = load_be16(buffer_.data() + 14);
        if (length > kMaxV2Payload) {
          return fail(14, "address block of " + std::to_string(length) + " bytes, more than " +
                              std::to_string(kMaxV2Payload));
        }
        v2_total_ = kV2FixedLength + length;
      }
      if (v2_total_ != 0 && buffer_.size() == v2_total_) return parse_v2();
      continue;
    }
    if (offset < kV1Prefix.size()) {
      if (byte != static_cast<std::uint8_t>(kV1Prefix[offset])) {
        return fail(offset, "not \"PROXY \"");
      }
      continue;
    }
    if (byte == '\n') {
      if (buffer_[offset - 1] != '\r') return fail(offset, "line feed without carriage return");
      return parse_v1();
    }
    if (buffer_.size() >= kMaxV1Length) {
      return fail(offset, "no end of line within " + std::to_string(kMaxV1Length) + " bytes");
    }
  }
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::finish() {
  if (status_ != Status::kNeedMore) return status_;
  return fail(buffer_.size(), "truncated: the connection ended inside the header");
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2() {
  header_.version = 2;
  const std::uint8_t command = buffer_[12] & 0x0F;
  const std::uint8_t family = buffer_[13] >> 4;
  const std::uint8_t transport = buffer_[13] & 0x0F;
  const std::size_t length = v2_total_ - kV2FixedLength;
  const std::uint8_t* block = buffer_.data() + kV2FixedLength;
  // LOCAL (a health check of the balancer's own) and families ft does not
  // map (UNSPEC, UNIX) keep the connection's own address, as the
  // specification asks.
  if (command == kCommandLocal || (family != kFamilyInet && family != kFamilyInet6)) {
    header_.local = true;
  } else if (transport != kTransportStream) {
    return fail(13, "transport " + std::to_string(transport) + " is not a stream");
  } else if (family == kFamilyInet) {
    if (length < kInetAddresses) return fail(14, "address block too short for IPv4");
    header_.source_host = host_text(AF_INET, block);
    header_.source_port = load_be16(block + 8);
  } else {
    if (length < kInet6Addresses) return fail(14, "address block too short for IPv6");
    header_.source_host = host_text(AF_INET6, block);
    header_.source_port = load_be16(block + 32);
  }
  status_ = Status::kDone;
  buffer_ = Bytes();
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1() {
  header_.version = 1;
  // Without the trailing "\r\n": "PROXY TCP4 SRC DST SPORT DPORT".
  const std::string_view line(reinterpret_cast<const char*>(buffer_.data()), buffer_.size() - 2);
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start <= line.size()) {
    const std::size_t space = std::min(line.find(' ', start), line.size());
    words.push_back(line.substr(start, space - start));
    start = space + 1;
  }
  if (words.size() >= 2 && words[1] == "UNKNOWN") {
    header_.local = true;
  } else {
    if (words.size() != 6) return fail(0, "version 1 line has " + std::to_string(words.size()) +
                                              " words, expected 6");
    const int family = words[1] == "TCP4" ? AF_INET : words[1] == "TCP6" ? AF_INET6 : -1;
    if (family < 0) return fail(6, "protocol \"" + std::string(words[1]) + "\", expected TCP4/TCP6");
    std::array<std::uint8_t, 16> source{};
    std::array<std::uint8_t, 16> destination{};
    std::uint16_t destination_port = 0;
    if (::inet_pton(family, std::string(words[2]).c_str(), source.data()) != 1 ||
        ::inet_pton(family, std::string(words[3]).c_str(), destination.data()) != 1) {
      return fail(11, "an address is not a " + std::string(words[1]) + " address");
    }
    header_.source_host = host_text(family, source.data());
    if (!parse_port(words[4], header_.source_port) || !parse_port(words[5], destination_port)) {
      return fail(11, "a port is not a number from 0 to 65535");
    }
  }
  status_ = Status::kDone;
  buffer_ = Bytes();
  return status_;
}

}  // namespace ft
