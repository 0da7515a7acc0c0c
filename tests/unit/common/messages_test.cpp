// The payload decoders are strict (exact length, strings within limits and
// without NUL, fields in range) and never allocate for a hostile count; the
// ENTRIES encoder splits long lists within the payload limit.
#include "common/wire/messages.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "support/allocation_probe.hpp"
#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

/// The payload of the single frame that `encode` appends.
Bytes payload_of(const std::function<void(Bytes&)>& encode) {
  Bytes frame;
  encode(frame);
  EXPECT_GE(frame.size(), limits::kFrameHeaderSize);
  EXPECT_EQ(load_be32(frame.data() + 8), frame.size() - limits::kFrameHeaderSize);
  return Bytes(frame.begin() + limits::kFrameHeaderSize, frame.end());
}

Frame entries_frame(const Bytes& payload, std::uint8_t flags = 0) {
  Frame f;
  f.header = FrameHeader{FrameType::kEntries, flags, 1, static_cast<std::uint32_t>(payload.size())};
  f.payload = payload;
  return f;
}

/// A payload decoder under test, reduced to "accepted or not".
struct Decoder {
  std::string name;
  std::function<bool(const Bytes&)> accepts;
  Bytes valid;
};

std::vector<Decoder> decoders() {
  Entry entry{"name", EntryType::kFile, 3, 4, 0644, {}, "", {}};
  return {
      {"ERROR", [](const Bytes& p) { return decode_error(p).has_value(); },
       payload_of([](Bytes& b) {
         encode_error(b, 1, ErrorMsg{4, "a/b", "not found"});
       })},
      {"PUT", [](const Bytes& p) { return decode_put(p).has_value(); }, payload_of([](Bytes& b) {
         encode_put(b, 1, PutMsg{"a/b", 10, 0644, 5, 4096, 0, ""});
       })},
      {"PUT_READY", [](const Bytes& p) { return decode_put_ready(p, false).has_value(); },
       payload_of([](Bytes& b) {
         encode_put_ready(b, 1, PutReadyMsg{0, std::nullopt});
       })},
      {"GET", [](const Bytes& p) { return decode_get(p).has_value(); }, payload_of([](Bytes& b) {
         encode_get(b, 1, GetMsg{"a", 0});
       })},
      {"GET_READY", [](const Bytes& p) { return decode_get_ready(p).has_value(); },
       payload_of([](Bytes& b) {
         encode_get_ready(b, 1, GetReadyMsg{1, 2, 0644, 4096});
       })},
      {"LIST", [](const Bytes& p) { return decode_path_msg(p).has_value(); },
       payload_of([](Bytes& b) { encode_list(b, 1, PathMsg{"dir"}); })},
      {"END", [](const Bytes& p) { return decode_end(p).has_value(); }, payload_of([](Bytes& b) {
         encode_end(b, 1, EndMsg{3, Hash128{1, 2}});
       })},
      {"ENTRIES", [](const Bytes& p) { return decode_entries(entries_frame(p)).has_value(); },
       payload_of([&](Bytes& b) {
         encode_entries(b, 1, {entry, entry});
       })},
      {"DATA", [](const Bytes& p) { return decode_data(p).has_value(); }, payload_of([](Bytes& b) {
         encode_data(b, 1, 0, Bytes{1, 2, 3});
       })},
      {"DELETE", [](const Bytes& p) { return decode_delete(p).has_value(); },
       payload_of([](Bytes& b) {
         encode_delete(b, 1, DeleteMsg{"a/b", 0});
       })},
      {"LINK", [](const Bytes& p) { return decode_link(p).has_value(); }, payload_of([](Bytes& b) {
         encode_link(b, 1, LinkMsg{"a/b", "r/b", 3, 4, 0644, kLinkCheckHash, Hash128{1, 2}});
       })},
  };
}

TEST(MessageDecoders, ValidPayloadsAreAccepted) {
  for (const Decoder& d : decoders()) EXPECT_TRUE(d.accepts(d.valid)) << d.name;
}

TEST(MessageDecoders, EveryShortPayloadIsRefused) {
  for (const Decoder& d : decoders()) {
    // DATA's last field is its bytes: a shorter DATA is just a shorter chunk
    // down to one byte.
    std::size_t refuse_below = d.name == "DATA" ? limits::kDataPrefixSize + 1 : d.valid.size();
    for (std::size_t n = 0; n < refuse_below; ++n) {
      EXPECT_FALSE(d.accepts(Bytes(d.valid.begin(), d.valid.begin() + n)))
          << d.name << " cut to " << n << " bytes";
    }
  }
}

TEST(MessageDecoders, TrailingBytesAreRefused) {
  for (const Decoder& d : decoders()) {
    if (d.name == "DATA") continue;  // its bytes run to the end by definition
    for (std::uint8_t extra : {0x00, 0x01, 0xff}) {
      Bytes p = d.valid;
      p.push_back(extra);
      EXPECT_FALSE(d.accepts(p)) << d.name << " with a trailing byte";
    }
  }
}

TEST(MessageDecoders, StringLongerThanPayloadIsRefused) {
  Bytes p = payload_of([](Bytes& b) { encode_list(b, 1, PathMsg{"abc"}); });
  p[0] = 0xff;
  p[1] = 0xff;
  EXPECT_FALSE(decode_path_msg(p).has_value());
  p = payload_of([](Bytes& b) { encode_put(b, 1, PutMsg{"abc", 1, 0644, 0, 4096, 0, ""}); });
  p[1] = 0x04;  // path length 4: eats a byte of size, the rest is short
  EXPECT_FALSE(decode_put(p).has_value());
  p = payload_of([](Bytes& b) { encode_error(b, 0, ErrorMsg{1, "", "m"}); });
  p[5] = 0x02;  // message length 2, one byte present
  EXPECT_FALSE(decode_error(p).has_value());
}

TEST(MessageDecoders, NulInAnyStringIsRefused) {
  const std::string nul_path("a\0b", 3);
  EXPECT_FALSE(decode_put(payload_of([&](Bytes& b) {
                 encode_put(b, 1, PutMsg{nul_path, 1, 0644, 0, 4096, 0, ""});
               })).has_value());
  EXPECT_FALSE(decode_get(payload_of([&](Bytes& b) {
                 encode_get(b, 1, GetMsg{nul_path, 0});
               })).has_value());
  EXPECT_FALSE(decode_path_msg(payload_of([&](Bytes& b) {
                 encode_list(b, 1, PathMsg{nul_path});
               })).has_value());
  EXPECT_FALSE(decode_path_msg(payload_of([&](Bytes& b) {
                 encode_stat(b, 1, PathMsg{std::string(1, '\0')});
               })).has_value());
  EXPECT_FALSE(decode_error(payload_of([&](Bytes& b) {
                 encode_error(b, 1, ErrorMsg{3, nul_path, "bad"});
               })).has_value());
  EXPECT_FALSE(decode_entries(entries_frame(payload_of([&](Bytes& b) {
                 encode_entries(b, 1, {Entry{nul_path, EntryType::kFile, 0, 0, 0, {}, "", {}}});
               }))).has_value());
  // docs/protocol.md section 1: "A str may not contain a NUL byte" - the
  // message of an ERROR is a str like any other.
  EXPECT_FALSE(decode_error(payload_of([&](Bytes& b) {
                 encode_error(b, 1, ErrorMsg{3, "a", std::string("bad\0message", 11)});
               })).has_value())
      << "decode_error accepts a NUL byte in the message";
}

TEST(MessageDecoders, PathsOverTheLimitAreRefused) {
  const std::string max_path(limits::kMaxPathBytes, 'a');
  const std::string long_path(limits::kMaxPathBytes + 1, 'a');
  auto put = [](const std::string& path) {
    return decode_put(payload_of([&](Bytes& b) {
             encode_put(b, 1, PutMsg{path, 1, 0644, 0, 4096, 0, ""});
           }))
        .has_value();
  };
  EXPECT_TRUE(put(max_path));
  EXPECT_FALSE(put(long_path));
  auto get = [](const std::string& path) {
    return decode_get(payload_of([&](Bytes& b) { encode_get(b, 1, GetMsg{path, 0}); })).has_value();
  };
  EXPECT_TRUE(get(max_path));
  EXPECT_FALSE(get(long_path));
  auto list = [](const std::string& path) {
    return decode_path_msg(payload_of([&](Bytes& b) { encode_list(b, 1, PathMsg{path}); }))
        .has_value();
  };
  EXPECT_TRUE(list(max_path));
  EXPECT_FALSE(list(long_path));
  auto del = [](const std::string& path) {
    return decode_delete(payload_of([&](Bytes& b) {
             encode_delete(b, 1, DeleteMsg{path, 0});
           }))
        .has_value();
  };
  EXPECT_TRUE(del(max_path));
  EXPECT_FALSE(del(long_path));
  // An entry name is one component: 255 bytes at most.
  auto entry = [](std::size_t n) {
    return decode_entries(entries_frame(payload_of([&](Bytes& b) {
             encode_entries(b, 1,
                            {Entry{std::string(n, 'e'), EntryType::kFile, 0, 0, 0, {}, "", {}}});
           })))
        .has_value();
  };
  EXPECT_TRUE(entry(limits::kMaxComponentBytes));
  // The encoder caps a longer name at one component; the decoder refuses a
  // longer one written by hand.
  EXPECT_TRUE(entry(limits::kMaxComponentBytes + 1));
  Bytes raw;
  ByteWriter w(raw);
  w.u32(1);
  w.str(std::string(limits::kMaxComponentBytes + 1, 'e'));
  w.u8(1);
  w.u64(0);
  w.i64(0);
  w.u32(0);
  EXPECT_FALSE(decode_entries(entries_frame(raw)).has_value());
}

TEST(MessageDecoders, ModeAbove07777IsRefused) {
  auto put = [](std::uint32_t mode) {
    return decode_put(payload_of([&](Bytes& b) {
             encode_put(b, 1, PutMsg{"a", 1, mode, 0, 4096, 0, ""});
           }))
        .has_value();
  };
  EXPECT_TRUE(put(0));
  EXPECT_TRUE(put(07777));
  EXPECT_FALSE(put(010000));
  EXPECT_FALSE(put(0xffffffff));
  auto ready = [](std::uint32_t mode) {
    return decode_get_ready(payload_of([&](Bytes& b) {
             encode_get_ready(b, 1, GetReadyMsg{1, 0, mode, 4096});
           }))
        .has_value();
  };
  EXPECT_TRUE(ready(07777));
  EXPECT_FALSE(ready(010000));
  auto entry = [](std::uint32_t mode) {
    return decode_entries(entries_frame(payload_of([&](Bytes& b) {
             encode_entries(b, 1, {Entry{"x", EntryType::kFile, 0, 0, mode, {}, "", {}}});
           })))
        .has_value();
  };
  EXPECT_TRUE(entry(07777));
  EXPECT_FALSE(entry(010000));
}

TEST(MessageDecoders, DataWithoutBytesIsRefused) {
  Bytes prefix(limits::kDataPrefixSize, 0);
  EXPECT_FALSE(decode_data(prefix).has_value());
  EXPECT_FALSE(decode_data({}).has_value());
  prefix.push_back(0x61);
  auto one = decode_data(prefix);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->bytes.size(), 1u);
  EXPECT_EQ(one->bytes.data(), prefix.data() + limits::kDataPrefixSize);  // a view, no copy
}

TEST(MessageDecoders, GetReadyChunkSizeMustBeInRange) {
  auto ready = [](std::uint32_t chunk) {
    return decode_get_ready(payload_of([&](Bytes& b) {
             encode_get_ready(b, 1, GetReadyMsg{1, 0, 0644, chunk});
           }))
        .has_value();
  };
  EXPECT_FALSE(ready(0));
  EXPECT_FALSE(ready(limits::kMinChunkSize - 1));
  EXPECT_TRUE(ready(limits::kMinChunkSize));
  EXPECT_TRUE(ready(limits::kMaxChunkSize));
  EXPECT_FALSE(ready(limits::kMaxChunkSize + 1));
  EXPECT_FALSE(ready(0xffffffff));
}

TEST(MessageDecoders, EntryTypeMustBeOneToFour) {
  for (int type = 0; type < 256; ++type) {
    Bytes p = payload_of([](Bytes& b) {
      encode_entries(b, 1, {Entry{"x", EntryType::kFile, 0, 0, 0, {}, "", {}}});
    });
    p[4 + 2 + 1] = static_cast<std::uint8_t>(type);  // count, name length, name
    auto got = decode_entries(entries_frame(p));
    EXPECT_EQ(got.has_value(), type >= 1 && type <= 4) << "type " << type;
    if (got) {
      EXPECT_EQ(static_cast<int>(got->entries[0].type), type);
    }
  }
}

TEST(MessageDecoders, EntryCountMustMatchThePayload) {
  Entry e{"x", EntryType::kDirectory, 0, 0, 0755, {}, "", {}};
  Bytes two = payload_of([&](Bytes& b) { encode_entries(b, 1, {e, e}); });
  Bytes p = two;
  store_be32(p.data(), 3);  // says 3, holds 2
  EXPECT_FALSE(decode_entries(entries_frame(p)).has_value());
  store_be32(p.data(), 1);  // says 1, holds 2
  EXPECT_FALSE(decode_entries(entries_frame(p)).has_value());
  store_be32(p.data(), 0);
  EXPECT_FALSE(decode_entries(entries_frame(p)).has_value());
  EXPECT_TRUE(decode_entries(entries_frame(Bytes{0, 0, 0, 0})).has_value());
}

TEST(MessageDecoders, AbsurdEntryCountAllocatesNothing) {
  for (std::uint32_t count : {0xffffffffu, 0x10000000u, 100000u, 3000u}) {
    Bytes p(4 + 100, 0);
    store_be32(p.data(), count);
    reset_allocation_probe();
    EXPECT_FALSE(decode_entries(entries_frame(p)).has_value()) << count;
    EXPECT_LT(largest_allocation(), 1024u) << "count " << count;
  }
  // The largest legal frame of the smallest entries still decodes.
  Bytes p(limits::kMaxControlPayload, 0);
  const std::uint32_t most = (limits::kMaxControlPayload - 4) / 23;
  store_be32(p.data(), most);
  for (std::uint32_t i = 0; i < most; ++i) p[4 + i * 23 + 2] = 1;  // empty name, a file
  p.resize(4 + most * 23);
  auto got = decode_entries(entries_frame(p));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->entries.size(), most);
}

TEST(MessageDecoders, EntriesMoreFlagComesFromTheHeader) {
  Bytes p{0, 0, 0, 0};
  EXPECT_TRUE(decode_entries(entries_frame(p, kFlagMore))->more);
  EXPECT_FALSE(decode_entries(entries_frame(p, 0))->more);
}

TEST(MessageDecoders, EndCarriesTheCanonicalHash) {
  Bytes p(8 + 16);
  store_be64(p.data(), 77);
  for (int i = 0; i < 16; ++i) p[8 + i] = static_cast<std::uint8_t>(i + 1);
  auto end = decode_end(p);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->total_size, 77u);
  EXPECT_EQ(end->file_hash.high, 0x0102030405060708ULL);
  EXPECT_EQ(end->file_hash.low, 0x090a0b0c0d0e0f10ULL);
}

// The byte layout of docs/protocol.md section 9, field by field. The PUT
// payload is 2 + 3 + 8 + 4 + 8 + 4 + 4 = 33 bytes (0x21); the example in the
// docs prints 0x1f, which is a slip in the docs.
TEST(MessageEncoders, PutMatchesTheDocumentedExample) {
  Bytes out;
  encode_put(out, 1, PutMsg{"a/x", 3, 0644, 0x1122334455667788LL, 1 << 20, 0, ""});
  const Bytes want = {0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x21,
                      0x00, 0x03, 'a',  '/',  'x',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                      0x03, 0x00, 0x00, 0x01, 0xa4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                      0x88, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(out, want);
  out.clear();
  encode_ok(out, 1);
  EXPECT_EQ(out, (Bytes{0x02, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}));
  out.clear();
  encode_hello(out, Hello{});
  EXPECT_EQ(out, (Bytes{0x89, 0x46, 0x54, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0, 1, 0, 1, 0, 0, 0, 0}));
  out.clear();
  const Bytes abc{'a', 'b', 'c'};
  encode_data(out, 1, 0, abc);
  ASSERT_EQ(out.size(), 12u + 16u + 3u);
  EXPECT_EQ(load_be32(out.data() + 8), 0x13u);
  EXPECT_EQ(load_be64(out.data() + 20), hash64(abc));
}

TEST(MessageEncoders, EncodersAppendToTheCallersBuffer) {
  Bytes out{0xaa, 0xbb};
  encode_cancel(out, 9);
  ASSERT_EQ(out.size(), 14u);
  EXPECT_EQ(out[0], 0xaa);
  EXPECT_EQ(out[2], static_cast<std::uint8_t>(FrameType::kCancel));
}

std::vector<Entry> named_entries(std::size_t n, std::size_t name_length) {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string index = std::to_string(i);
    out.push_back(Entry{std::string(name_length - index.size(), 'x') + index,
                        static_cast<EntryType>(1 + i % 4),
                        i,
                        -static_cast<std::int64_t>(i),
                        static_cast<std::uint32_t>(i % 010000),
                        {},
                        "",
                        {}});
  }
  return out;
}

/// Splits an ENTRIES stream by hand and decodes every frame.
std::vector<Frame> split_frames(const Bytes& stream) {
  std::vector<Frame> frames;
  std::size_t at = 0;
  while (at + limits::kFrameHeaderSize <= stream.size()) {
    Frame f;
    f.header.type = static_cast<FrameType>(stream[at]);
    f.header.flags = stream[at + 1];
    f.header.request_id = load_be32(&stream[at + 4]);
    f.header.payload_length = load_be32(&stream[at + 8]);
    at += limits::kFrameHeaderSize;
    f.payload.assign(stream.begin() + at, stream.begin() + at + f.header.payload_length);
    at += f.header.payload_length;
    frames.push_back(std::move(f));
  }
  EXPECT_EQ(at, stream.size());
  return frames;
}

void expect_entries_round_trip(const std::vector<Entry>& entries, std::size_t want_frames) {
  Bytes out;
  encode_entries(out, 42, entries);
  std::vector<Frame> frames = split_frames(out);
  ASSERT_EQ(frames.size(), want_frames);
  std::vector<Entry> back;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const Frame& f = frames[i];
    EXPECT_EQ(f.header.type, FrameType::kEntries);
    EXPECT_EQ(f.header.request_id, 42u);
    EXPECT_LE(f.header.payload_length, limits::kMaxControlPayload);
    EXPECT_EQ(f.header.flags, i + 1 < frames.size() ? kFlagMore : 0);
    auto m = decode_entries(f);
    ASSERT_TRUE(m.has_value());
    EXPECT_FALSE(m->entries.empty() && !entries.empty());
    back.insert(back.end(), m->entries.begin(), m->entries.end());
  }
  EXPECT_EQ(back, entries);
}

TEST(MessageEncoders, EntriesSplitWithinThePayloadLimit) {
  // 1000 entries of 278 bytes: 235 fit in 65532 bytes, so 5 frames.
  expect_entries_round_trip(named_entries(1000, limits::kMaxComponentBytes), 5);
}

TEST(MessageEncoders, EntriesFillAFrameExactly) {
  // 258 entries of 23 + 231 bytes fill 65532 bytes: count + entries = 65536.
  expect_entries_round_trip(named_entries(258, 231), 1);
  Bytes out;
  encode_entries(out, 1, named_entries(258, 231));
  EXPECT_EQ(out.size(), limits::kFrameHeaderSize + limits::kMaxControlPayload);
  expect_entries_round_trip(named_entries(259, 231), 2);
}

TEST(MessageEncoders, EmptyListIsOneFrameWithoutMore) {
  expect_entries_round_trip({}, 1);
  Bytes out;
  encode_entries(out, 3, {});
  EXPECT_EQ(out, (Bytes{0x15, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0}));
}

// The encoded ENTRIES stream also survives the frame decoder in every split.
TEST(MessageEncoders, EntriesThroughTheDecoder) {
  const std::vector<Entry> entries = named_entries(1000, limits::kMaxComponentBytes);
  Bytes stream;
  encode_hello(stream, Hello{});
  encode_entries(stream, 7, entries);
  for (const FeedPlan& plan : all_feed_plans()) {
    SCOPED_TRACE(plan_name(plan));
    DecodeRun run = run_decoder(stream, options_for(Sender::kServer), plan);
    ASSERT_FALSE(run.error.has_value());
    std::vector<Entry> back;
    for (const Frame& f : run.frames) {
      auto m = decode_entries(f);
      ASSERT_TRUE(m.has_value());
      back.insert(back.end(), m->entries.begin(), m->entries.end());
    }
    EXPECT_EQ(back, entries);
  }
}

// ARCHIVE and SPARSE messages (docs/protocol.md, section 5.9).
TEST(MessageDecoders, ArchiveMessagesRefuseWhatTheyMust) {
  Bytes frame;
  encode_hole(frame, 1, HoleMsg{0, 0});
  EXPECT_FALSE(decode_hole(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  frame.clear();
  encode_hole(frame, 1, HoleMsg{1ULL << 63, 1});
  EXPECT_FALSE(decode_hole(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  frame.clear();
  encode_hole(frame, 1, HoleMsg{5, 7});
  auto hole = decode_hole(ByteSpan(frame).subspan(limits::kFrameHeaderSize));
  ASSERT_TRUE(hole.has_value());
  EXPECT_EQ(hole->offset, 5u);
  EXPECT_EQ(hole->length, 7u);

  AttrsMsg attrs{"a", kAttrsMode, 0644, 0, 0, "", "", {}};
  frame.clear();
  encode_attrs(frame, 1, attrs);
  EXPECT_TRUE(decode_attrs(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  for (std::uint32_t fields : {0x20u, 0x80000000u}) {
    attrs.fields = fields;
    frame.clear();
    encode_attrs(frame, 1, attrs);
    EXPECT_FALSE(decode_attrs(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  }
  attrs.fields = kAttrsMode;
  attrs.mode = 010000;
  frame.clear();
  encode_attrs(frame, 1, attrs);
  EXPECT_FALSE(decode_attrs(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  // Attributes over the 32 KiB limit are refused, within a frame's payload.
  attrs.mode = 0644;
  attrs.xattrs = {Xattr{"user.a", std::string(20000, 'a')},
                  Xattr{"user.b", std::string(20000, 'b')}};
  frame.clear();
  encode_attrs(frame, 1, attrs);
  EXPECT_FALSE(decode_attrs(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  // An attribute name may not be empty nor hold a NUL.
  for (const std::string& name : {std::string(), std::string("user.\0x", 7)}) {
    attrs.xattrs = {Xattr{name, "v"}};
    frame.clear();
    encode_attrs(frame, 1, attrs);
    EXPECT_FALSE(decode_attrs(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
  }
  // HARDLINK: both paths, no NUL.
  frame.clear();
  encode_hardlink(frame, 1, HardlinkMsg{"a", std::string("b\0", 2)});
  EXPECT_FALSE(decode_hardlink(ByteSpan(frame).subspan(limits::kFrameHeaderSize)).has_value());
}

}  // namespace
}  // namespace ft::test
