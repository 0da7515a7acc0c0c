// The PROXY header parser (common/wire/proxy_header.hpp): every vector fed
// whole, byte by byte and in seeded random splits, with the client's first
// bytes after the header left unconsumed.
#include "common/wire/proxy_header.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ft {
namespace {

enum class Split { kWhole, kByteByByte, kRandom, kMaxRead };

Bytes bytes_of(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

Bytes v2_header(std::uint8_t command, std::uint8_t family, const Bytes& block) {
  Bytes out = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  out.push_back(static_cast<std::uint8_t>(0x20 | command));
  out.push_back(family);
  out.push_back(static_cast<std::uint8_t>(block.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(block.size()));
  out.insert(out.end(), block.begin(), block.end());
  return out;
}

Bytes inet_block() {
  // 192.0.2.7:51000 -> 198.51.100.1:7070
  return {192, 0, 2, 7, 198, 51, 100, 1, 0xC7, 0x38, 0x1B, 0x9E};
}

struct Run {
  ProxyHeaderParser::Status status;
  std::size_t consumed = 0;  // bytes of the stream the parser took
  ProxyHeaderParser parser;
};

// Feeds `stream` as `split` says, stopping at the parser's verdict; the
// kMaxRead split reads as the server does, never more than max_read().
void run(const Bytes& stream, Split split, std::uint32_t seed, Run& out) {
  std::mt19937 random(seed);
  std::size_t at = 0;
  out.status = ProxyHeaderParser::Status::kNeedMore;
  while (at < stream.size() && out.status == ProxyHeaderParser::Status::kNeedMore) {
    std::size_t piece = stream.size() - at;
    if (split == Split::kByteByByte) piece = 1;
    if (split == Split::kRandom) piece = std::min<std::size_t>(piece, 1 + random() % 20);
    if (split == Split::kMaxRead) piece = std::min(piece, out.parser.max_read());
    std::size_t consumed = 0;
    out.status = out.parser.feed(ByteSpan(stream).subspan(at, piece), consumed);
    ASSERT_LE(consumed, piece);
    if (out.status == ProxyHeaderParser::Status::kNeedMore) {
      ASSERT_EQ(consumed, piece);
    }
    at += consumed;
  }
  out.consumed = at;
  if (out.status == ProxyHeaderParser::Status::kNeedMore) out.status = out.parser.finish();
}

class ProxyHeaderTest : public ::testing::TestWithParam<Split> {};

void expect_done(const Bytes& header, const std::string& host, std::uint16_t port, int version,
                 bool local) {
  Bytes stream = header;
  const Bytes client = bytes_of("FT\x01rest of the client's bytes");
  stream.insert(stream.end(), client.begin(), client.end());
  for (std::uint32_t seed : {1u, 7u, 42u}) {
    Run out;
    run(stream, ProxyHeaderTest::GetParam(), seed, out);
    ASSERT_EQ(out.status, ProxyHeaderParser::Status::kDone) << out.parser.error();
    EXPECT_EQ(out.consumed, header.size());  // the client's bytes stay unread
    EXPECT_EQ(out.parser.header().version, version);
    EXPECT_EQ(out.parser.header().local, local);
    EXPECT_EQ(out.parser.header().source_host, host);
    EXPECT_EQ(out.parser.header().source_port, port);
    EXPECT_EQ(out.parser.max_read(), 0u);
  }
}

void expect_error(const Bytes& stream, std::size_t offset, const std::string& words) {
  for (std::uint32_t seed : {1u, 7u, 42u}) {
    Run out;
    run(stream, ProxyHeaderTest::GetParam(), seed, out);
    ASSERT_EQ(out.status, ProxyHeaderParser::Status::kError);
    EXPECT_EQ(out.parser.error_offset(), offset) << out.parser.error();
    EXPECT_NE(out.parser.error().find(words), std::string::npos) << out.parser.error();
    // Sticky: more bytes change nothing.
    std::size_t consumed = 0;
    EXPECT_EQ(out.parser.feed(bytes_of("PROXY "), consumed), ProxyHeaderParser::Status::kError);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(out.parser.finish(), ProxyHeaderParser::Status::kError);
  }
}

TEST_P(ProxyHeaderTest, V2Inet) {
  expect_done(v2_header(1, 0x11, inet_block()), "192.0.2.7", 51000, 2, false);
}

TEST_P(ProxyHeaderTest, V2InetWithTlvs) {
  Bytes block = inet_block();
  const Bytes tlv = {0x04, 0x00, 0x03, 'a', 'b', 'c'};  // PP2_TYPE_NOOP
  block.insert(block.end(), tlv.begin(), tlv.end());
  expect_done(v2_header(1, 0x11, block), "192.0.2.7", 51000, 2, false);
}

TEST_P(ProxyHeaderTest, V2Inet6) {
  Bytes block(36, 0);
  block[0] = 0x20;
  block[1] = 0x01;
  block[2] = 0x0d;
  block[3] = 0xb8;
  block[15] = 0x05;
  block[32] = 0x1F;
  block[33] = 0x90;
  expect_done(v2_header(1, 0x21, block), "2001:db8::5", 8080, 2, false);
}

TEST_P(ProxyHeaderTest, V2LocalKeepsTheConnectionsAddress) {
  expect_done(v2_header(0, 0x00, {}), "", 0, 2, true);
}

TEST_P(ProxyHeaderTest, V2UnixIsLocal) {
  expect_done(v2_header(1, 0x31, Bytes(216, 0)), "", 0, 2, true);
}

TEST_P(ProxyHeaderTest, V1Tcp4) {
  expect_done(bytes_of("PROXY TCP4 192.0.2.7 198.51.100.1 51000 7070\r\n"), "192.0.2.7", 51000, 1,
              false);
}

TEST_P(ProxyHeaderTest, V1Tcp6) {
  expect_done(bytes_of("PROXY TCP6 2001:db8::5 2001:db8::1 8080 7070\r\n"), "2001:db8::5", 8080, 1,
              false);
}

TEST_P(ProxyHeaderTest, V1Unknown) {
  expect_done(bytes_of("PROXY UNKNOWN\r\n"), "", 0, 1, true);
}

TEST_P(ProxyHeaderTest, NotAHeader) {
  expect_error(bytes_of("FT\x01 hello"), 0, "neither");
}

TEST_P(ProxyHeaderTest, BadSignature) {
  Bytes stream = v2_header(1, 0x11, inet_block());
  stream[7] = 'X';
  expect_error(stream, 7, "signature");
}

TEST_P(ProxyHeaderTest, WrongVersion) {
  Bytes stream = v2_header(1, 0x11, inet_block());
  stream[12] = 0x11;
  expect_error(stream, 12, "version 1");
}

TEST_P(ProxyHeaderTest, OversizedBlockRefusedBeforeItIsRead) {
  Bytes stream = v2_header(1, 0x11, {});
  stream[14] = 0xFF;
  stream[15] = 0xFF;
  expect_error(stream, 14, "more than");
}

TEST_P(ProxyHeaderTest, ShortInetBlock) {
  expect_error(v2_header(1, 0x11, Bytes(8, 1)), 14, "too short");
}

TEST_P(ProxyHeaderTest, Datagram) {
  expect_error(v2_header(1, 0x12, inet_block()), 13, "not a stream");
}

TEST_P(ProxyHeaderTest, Truncated) {
  Bytes stream = v2_header(1, 0x11, inet_block());
  stream.resize(20);
  expect_error(stream, 20, "truncated");
}

TEST_P(ProxyHeaderTest, V1BadAddress) {
  expect_error(bytes_of("PROXY TCP4 300.0.2.7 198.51.100.1 51000 7070\r\n"), 11, "address");
}

TEST_P(ProxyHeaderTest, V1BadPort) {
  expect_error(bytes_of("PROXY TCP4 192.0.2.7 198.51.100.1 70000 7070\r\n"), 11, "port");
}

TEST_P(ProxyHeaderTest, V1NoEndOfLine) {
  expect_error(bytes_of("PROXY TCP4 " + std::string(200, '1')), 106, "no end of line");
}

TEST_P(ProxyHeaderTest, V1BareLineFeed) {
  expect_error(bytes_of("PROXY UNKNOWN\n"), 13, "line feed");
}

INSTANTIATE_TEST_SUITE_P(Splits, ProxyHeaderTest,
                         ::testing::Values(Split::kWhole, Split::kByteByByte, Split::kRandom,
                                           Split::kMaxRead),
                         [](const ::testing::TestParamInfo<Split>& info) {
                           switch (info.param) {
                             case Split::kWhole:
                               return std::string("whole");
                             case Split::kByteByByte:
                               return std::string("bytes");
                             case Split::kRandom:
                               return std::string("random");
                             case Split::kMaxRead:
                               return std::string("max_read");
                           }
                           return std::string("?");
                         });

}  // namespace
}  // namespace ft
