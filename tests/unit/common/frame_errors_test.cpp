// Every malformed hello or header gets its own error kind at the right byte
// offset, as soon as the offending byte arrives, under every feed plan; and
// errors are sticky.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/wire/messages.hpp"
#include "support/allocation_probe.hpp"
#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

Bytes hello_bytes(std::uint16_t min = 1, std::uint16_t max = 1) {
  Bytes out;
  encode_hello(out, Hello{min, max, 0});
  return out;
}

/// Appends a raw 12-byte header, any field value allowed.
void raw_header(Bytes& out, std::uint8_t type, std::uint8_t flags, std::uint32_t id,
                std::uint32_t length, std::uint8_t reserved0 = 0, std::uint8_t reserved1 = 0) {
  std::uint8_t h[12] = {type, flags, reserved0, reserved1};
  store_be32(h + 4, id);
  store_be32(h + 8, length);
  out.insert(out.end(), h, h + 12);
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// One malformed stream and the error it must produce.
struct BadStream {
  std::string name;
  Sender sender;
  Bytes bytes;
  DecodeErrorKind kind;
  std::uint64_t offset;
  /// The error must be reported once this many bytes were given, not later.
  std::size_t visible_after;
  FrameDecoder::Options options;
};

BadStream bad(std::string name, Sender sender, Bytes bytes, DecodeErrorKind kind,
              std::uint64_t offset, std::size_t visible_after) {
  return BadStream{std::move(name), sender,        std::move(bytes),   kind,
                   offset,          visible_after, options_for(sender)};
}

/// A stream of hello + `frames`, then one bad header: the error at `field`
/// bytes into that header, visible once the 12 header bytes are in.
BadStream bad_header(std::string name, Sender sender, const Bytes& frames, std::uint8_t type,
                     std::uint8_t flags, std::uint32_t id, std::uint32_t length,
                     DecodeErrorKind kind, std::size_t field, std::uint8_t reserved0 = 0,
                     std::uint8_t reserved1 = 0) {
  Bytes s = concat(hello_bytes(), frames);
  const std::size_t at = s.size();
  raw_header(s, type, flags, id, length, reserved0, reserved1);
  // Payload bytes after the bad header must never be looked at.
  s.resize(s.size() + 64, 0xee);
  return bad(std::move(name), sender, std::move(s), kind, at + field, at + 12);
}

std::vector<BadStream> bad_streams() {
  using K = DecodeErrorKind;
  const Sender C = Sender::kClient;
  const Sender S = Sender::kServer;
  Bytes none;
  Bytes one_put;  // a valid frame before the bad one moves the offset
  encode_put(one_put, 1, PutMsg{"a", 1, 0644, 0, limits::kDefaultChunkSize, 0, ""});
  Bytes one_ok;
  encode_ok(one_ok, 1);

  std::vector<BadStream> v;
  for (std::uint8_t type : {0x00, 0x06, 0x0f, 0x3e, 0x42, 0xff}) {
    v.push_back(bad_header("unknown_type_" + std::to_string(type) + "_client", C, none, type, 0, 1,
                           0, K::kUnknownType, 0));
    v.push_back(bad_header("unknown_type_" + std::to_string(type) + "_server", S, one_ok, type, 0,
                           1, 0, K::kUnknownType, 0));
  }
  // Wrong direction: every S→C type from a client and every C→S type from a server.
  for (FrameType t : {FrameType::kError, FrameType::kOk, FrameType::kPutReady, FrameType::kGetReady,
                      FrameType::kEntries}) {
    v.push_back(bad_header("client_sends_" + frame_type_name(std::uint8_t(t)), C, one_put,
                           std::uint8_t(t), 0, 1, 8, K::kWrongDirection, 0));
  }
  for (FrameType t :
       {FrameType::kCancel, FrameType::kPut, FrameType::kGet, FrameType::kList, FrameType::kStat}) {
    v.push_back(bad_header("server_sends_" + frame_type_name(std::uint8_t(t)), S, none,
                           std::uint8_t(t), 0, 1, 8, K::kWrongDirection, 0));
  }
  // Reserved flag bits.
  v.push_back(bad_header("flag_01_on_PUT", C, none, 0x10, 0x01, 1, 10, K::kBadFlags, 1));
  v.push_back(bad_header("flag_80_on_DATA", C, one_put, 0x03, 0x80, 1, 20, K::kBadFlags, 1));
  v.push_back(bad_header("flag_08_on_ENTRIES", S, none, 0x15, 0x08, 1, 4, K::kBadFlags, 1));
  v.push_back(bad_header("flag_01_on_LIST", C, none, 0x14, 0x01, 1, 2, K::kBadFlags, 1));
  v.push_back(bad_header("flag_09_on_ENTRIES", S, none, 0x15, 0x09, 1, 4, K::kBadFlags, 1));
  v.push_back(bad_header("flag_01_on_OK", S, none, 0x02, 0x01, 1, 0, K::kBadFlags, 1));
  v.push_back(bad_header("flag_01_on_ERROR", S, none, 0x01, 0x01, 0, 6, K::kBadFlags, 1));
  // Reserved bytes.
  v.push_back(
      bad_header("reserved_byte_2", C, none, 0x14, 0, 1, 2, K::kReservedNotZero, 2, 0x01, 0));
  v.push_back(
      bad_header("reserved_byte_3", S, one_ok, 0x02, 0, 1, 0, K::kReservedNotZero, 2, 0, 0x80));
  // Request id 0 on anything but ERROR.
  v.push_back(bad_header("id0_PUT", C, none, 0x10, 0, 0, 10, K::kZeroRequestId, 4));
  v.push_back(bad_header("id0_DATA", S, one_ok, 0x03, 0, 0, 17, K::kZeroRequestId, 4));
  v.push_back(bad_header("id0_ENTRIES", S, none, 0x15, 0x01, 0, 4, K::kZeroRequestId, 4));
  v.push_back(bad_header("id0_CANCEL", C, none, 0x05, 0, 0, 0, K::kZeroRequestId, 4));
  // Payload lengths over the limit, refused on the header alone.
  v.push_back(bad_header("control_65537", C, none, 0x14, 0, 1, limits::kMaxControlPayload + 1,
                         K::kPayloadTooLarge, 8));
  v.push_back(bad_header("error_65537", S, none, 0x01, 0, 0, limits::kMaxControlPayload + 1,
                         K::kPayloadTooLarge, 8));
  v.push_back(bad_header("data_4MiB_17", C, one_put, 0x03, 0, 1, limits::kMaxDataPayload + 1,
                         K::kPayloadTooLarge, 8));
  v.push_back(bad_header("data_ffffffff", S, none, 0x03, 0, 1, 0xffffffff, K::kPayloadTooLarge, 8));
  v.push_back(bad_header("put_ffffffff", C, none, 0x10, 0, 1, 0xffffffff, K::kPayloadTooLarge, 8));
  v.push_back(bad_header("entries_data_limit", S, none, 0x15, 0, 1, limits::kMaxDataPayload,
                         K::kPayloadTooLarge, 8));

  // Bad magic: another protocol is refused at its first byte.
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  v.push_back(bad("http_request", C, Bytes(http.begin(), http.end()), K::kBadMagic, 0, 1));
  v.push_back(bad("tls_client_hello", C, Bytes{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01},
                  K::kBadMagic, 0, 1));
  v.push_back(bad("ssh_banner_from_server", S, Bytes{'S', 'S', 'H', '-', '2', '.', '0', '-'},
                  K::kBadMagic, 0, 1));
  for (std::size_t i = 1; i < sizeof kMagic; ++i) {
    Bytes s = hello_bytes();
    s[i] ^= 0x20;
    v.push_back(bad("magic_byte_" + std::to_string(i), C, s, K::kBadMagic, i, i + 1));
  }
  // Versions: the hello's range must overlap ours (1..1) and be ordered.
  v.push_back(bad("version_2_to_3", C, hello_bytes(2, 3), K::kWrongVersion, 8, 16));
  v.push_back(bad("version_0_to_0", S, hello_bytes(0, 0), K::kWrongVersion, 8, 16));
  v.push_back(bad("version_min_above_max", C, hello_bytes(1, 0), K::kWrongVersion, 8, 16));
  {
    // With a wider range of our own, min > max is caught by itself.
    BadStream b = bad("version_3_to_2_for_1_to_5", C, hello_bytes(3, 2), K::kWrongVersion, 8, 16);
    b.options.version_max = 5;
    v.push_back(b);
  }
  return v;
}

/// Streams cut short: finish() reports kTruncated at the start of the hello
/// or frame that was cut (not in the middle of it).
std::vector<BadStream> truncated_streams() {
  using K = DecodeErrorKind;
  const Sender C = Sender::kClient;
  const Sender S = Sender::kServer;
  Bytes one_put;
  encode_put(one_put, 1, PutMsg{"a", 1, 0644, 0, limits::kDefaultChunkSize, 0, ""});
  Bytes one_ok;
  encode_ok(one_ok, 1);

  std::vector<BadStream> v;
  {
    Bytes s = hello_bytes();
    s.resize(10);
    v.push_back(bad("truncated_hello", C, s, K::kTruncated, 0, 10));
  }
  v.push_back(bad("truncated_hello_1_byte", S, Bytes{0x89}, K::kTruncated, 0, 1));
  {
    Bytes s = concat(hello_bytes(), one_put);
    s.insert(s.end(), {0x10, 0x00, 0x00});
    v.push_back(bad("truncated_header", C, s, K::kTruncated, 16 + one_put.size(), s.size()));
  }
  {
    Bytes s = concat(hello_bytes(), Bytes(one_put.begin(), one_put.end() - 1));
    v.push_back(bad("truncated_payload", C, s, K::kTruncated, 16, s.size()));
  }
  {
    Bytes s = hello_bytes();
    raw_header(s, 0x03, 0, 5, 100);
    v.push_back(bad("truncated_payload_none_sent", S, s, K::kTruncated, 16, s.size()));
  }
  {
    Bytes s = concat(hello_bytes(), one_ok);
    encode_data(s, 9, 0, pattern_bytes(limits::kMaxChunkSize, 1));
    s.pop_back();
    v.push_back(bad("truncated_max_data", S, s, K::kTruncated, 16 + 12, s.size()));
  }
  return v;
}

/// Runs every bad stream under one feed plan.
class FrameErrors : public ::testing::TestWithParam<FeedPlan> {};

void expect_errors(const std::vector<BadStream>& streams, const FeedPlan& plan) {
  for (const BadStream& b : streams) {
    SCOPED_TRACE(b.name);
    DecodeRun run = run_decoder(b.bytes, b.options, plan);
    ASSERT_TRUE(run.error.has_value());
    EXPECT_EQ(to_string(run.error->kind), to_string(b.kind)) << run.error->reason;
    EXPECT_EQ(run.error->offset, b.offset) << run.error->reason;
    EXPECT_FALSE(run.error->reason.empty());
    // Never later than the byte that gives the fault away; exactly then when
    // the bytes arrive one at a time.
    EXPECT_GE(run.fed_at_error, b.visible_after);
    if (plan.split == Split::kByteByByte) {
      EXPECT_EQ(run.fed_at_error, b.visible_after);
    }
  }
}

TEST_P(FrameErrors, EachMalformedStreamGetsItsKindAndOffset) {
  expect_errors(bad_streams(), GetParam());
}

// A cut payload is reported at its frame's header, like a cut header or hello.
TEST_P(FrameErrors, TruncationIsLocatedAtTheCutItem) {
  expect_errors(truncated_streams(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Plans, FrameErrors, ::testing::ValuesIn(all_feed_plans()),
                         [](const auto& info) { return plan_name(info.param); });

TEST(FrameErrorsSticky, ErrorRepeatsAndInputIsRefused) {
  Bytes s = hello_bytes();
  raw_header(s, 0x42, 0, 1, 0);
  FrameDecoder d(options_for(Sender::kClient));
  ASSERT_EQ(d.feed(s), s.size());
  EXPECT_EQ(d.next(), DecodeStatus::kHello);
  ASSERT_EQ(d.next(), DecodeStatus::kError);
  const DecodeError first = d.error();
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(first.kind, DecodeErrorKind::kUnknownType);
  EXPECT_EQ(first.offset, 16u);
  EXPECT_NE(first.reason.find("0x42"), std::string::npos) << first.reason;

  // A valid frame afterwards does not revive the decoder.
  Bytes ok;
  encode_put_ready(ok, 1, PutReadyMsg{0, std::nullopt});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d.next(), DecodeStatus::kError);
    EXPECT_EQ(d.feed(ok), 0u);
    EXPECT_TRUE(d.write_area().empty());
    d.commit(0);
    EXPECT_EQ(d.finish(), DecodeStatus::kError);
    EXPECT_EQ(d.error().kind, first.kind);
    EXPECT_EQ(d.error().offset, first.offset);
    EXPECT_EQ(d.error().reason, first.reason);
  }
}

TEST(FrameErrorsSticky, TruncationIsStickyToo) {
  FrameDecoder d(options_for(Sender::kServer));
  Bytes s = hello_bytes();
  ASSERT_EQ(d.feed(ByteSpan(s).first(5)), 5u);
  EXPECT_EQ(d.next(), DecodeStatus::kNeedMore);
  ASSERT_EQ(d.finish(), DecodeStatus::kError);
  EXPECT_EQ(d.error().kind, DecodeErrorKind::kTruncated);
  EXPECT_EQ(d.next(), DecodeStatus::kError);
  EXPECT_EQ(d.finish(), DecodeStatus::kError);
  EXPECT_EQ(d.error().kind, DecodeErrorKind::kTruncated);
}

// The reason of a truncation names where the stream stopped.
TEST(FrameErrorsTruncation, ReasonNamesTheEndOfTheStream) {
  Bytes s = hello_bytes();
  raw_header(s, 0x03, 0, 5, 100);
  s.resize(s.size() + 40, 1);
  FrameDecoder d(options_for(Sender::kClient));
  ASSERT_EQ(d.feed(s), s.size());
  EXPECT_EQ(d.next(), DecodeStatus::kHello);
  EXPECT_EQ(d.next(), DecodeStatus::kNeedMore);
  ASSERT_EQ(d.finish(), DecodeStatus::kError);
  EXPECT_NE(d.error().reason.find(std::to_string(s.size())), std::string::npos) << d.error().reason;
}

// A stream that ends between items, or before any byte, is not truncated.
TEST(FrameErrorsTruncation, CleanEndsAreNotErrors) {
  for (const FeedPlan& plan : all_feed_plans()) {
    SCOPED_TRACE(plan_name(plan));
    EXPECT_EQ(run_decoder({}, options_for(Sender::kClient), plan).finish_status,
              DecodeStatus::kNeedMore);
    Bytes s = hello_bytes();
    EXPECT_EQ(run_decoder(s, options_for(Sender::kServer), plan).finish_status,
              DecodeStatus::kNeedMore);
    encode_ok(s, 3);
    DecodeRun run = run_decoder(s, options_for(Sender::kServer), plan);
    EXPECT_EQ(run.finish_status, DecodeStatus::kNeedMore);
    EXPECT_EQ(run.frames.size(), 1u);
  }
}

// Limits are inclusive: the largest legal payloads and hello ranges pass.
TEST(FrameErrorsBoundaries, LargestLegalHeadersAreAccepted) {
  struct Case {
    Sender sender;
    std::uint8_t type;
    std::uint8_t flags;
    std::uint32_t id;
    std::uint32_t length;
  };
  for (Case c : {Case{Sender::kClient, 0x14, 0, 1, limits::kMaxControlPayload},
                 Case{Sender::kServer, 0x01, 0, 0, limits::kMaxControlPayload},
                 Case{Sender::kServer, 0x15, kFlagMore, 0xffffffff, limits::kMaxControlPayload},
                 Case{Sender::kClient, 0x03, 0, 1, limits::kMaxDataPayload}}) {
    SCOPED_TRACE(frame_type_name(c.type));
    Bytes s = hello_bytes();
    raw_header(s, c.type, c.flags, c.id, c.length);
    s.resize(s.size() + c.length, 0);
    DecodeRun run = run_decoder(s, options_for(c.sender), FeedPlan{});
    EXPECT_FALSE(run.error.has_value());
    ASSERT_EQ(run.frames.size(), 1u);
    EXPECT_EQ(run.frames[0].payload.size(), c.length);
  }
  for (auto [min, max] : {std::pair<int, int>{0, 1}, {1, 65535}, {1, 1}}) {
    Bytes s = hello_bytes(std::uint16_t(min), std::uint16_t(max));
    DecodeRun run = run_decoder(s, options_for(Sender::kClient), FeedPlan{});
    EXPECT_FALSE(run.error.has_value()) << min << ".." << max;
    EXPECT_EQ(run.hellos.size(), 1u);
  }
}

// A hostile length is refused from the 12 header bytes alone, before the
// decoder allocates anything for the payload.
TEST(FrameErrorsBoundaries, OversizedLengthAllocatesNothing) {
  for (std::uint32_t length : {limits::kMaxControlPayload + 1, 0x7fffffffu, 0xffffffffu}) {
    FrameDecoder d(options_for(Sender::kClient));
    Bytes s = hello_bytes();
    raw_header(s, 0x10, 0, 1, length);
    ASSERT_EQ(d.feed(s), s.size());
    EXPECT_EQ(d.next(), DecodeStatus::kHello);
    reset_allocation_probe();
    EXPECT_EQ(d.next(), DecodeStatus::kError);
    EXPECT_LT(largest_allocation(), 4096u);
    EXPECT_EQ(d.error().kind, DecodeErrorKind::kPayloadTooLarge);
  }
}

}  // namespace
}  // namespace ft::test
