// Every message type, encoded into one stream per direction, decoded through
// FrameDecoder under every feed plan (whole, byte by byte, random splits;
// feed() and write_area()/commit()), and every field compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <tuple>

#include "common/wire/chunk_compression.hpp"
#include "common/wire/messages.hpp"
#include "support/feed_plan.hpp"

namespace ft::test {
namespace {

auto fields(const ErrorMsg& m) {
  return std::tie(m.code, m.path, m.message);
}
auto fields(const PutMsg& m) {
  return std::tie(m.path, m.size, m.mode, m.mtime_ns, m.chunk_size, m.put_flags);
}
auto fields(const GetMsg& m) {
  return std::tie(m.path, m.offset);
}
auto fields(const GetReadyMsg& m) {
  return std::tie(m.size, m.mtime_ns, m.mode, m.chunk_size);
}

/// A stream under construction, with what the decoder must give back for it.
class Script {
 public:
  using Check = std::function<void(const Frame&)>;
  struct Expected {
    FrameType type;
    std::uint8_t flags;
    std::uint32_t id;
    std::uint32_t payload_length;
    std::uint64_t end_offset;
    Check check;
  };

  void hello(const Hello& h) {
    encode_hello(bytes, h);
    hellos.push_back(h);
    hello_end_offset = bytes.size();
  }

  /// Runs `encode`, then walks the frames it appended by hand (not with the
  /// decoder under test) and checks their headers against `type` and `id`.
  void frames(FrameType type, std::uint32_t id, const std::function<void(Bytes&)>& encode,
              Check check) {
    std::size_t at = bytes.size();
    encode(bytes);
    EXPECT_GT(bytes.size(), at) << "encoder appended nothing";
    while (at < bytes.size()) {
      EXPECT_LE(at + limits::kFrameHeaderSize, bytes.size());
      const std::uint8_t* p = bytes.data() + at;
      EXPECT_EQ(p[0], static_cast<std::uint8_t>(type));
      EXPECT_EQ(p[2], 0);
      EXPECT_EQ(p[3], 0);
      EXPECT_EQ(load_be32(p + 4), id);
      std::uint32_t length = load_be32(p + 8);
      at += limits::kFrameHeaderSize + length;
      expected.push_back({type, p[1], id, length, at, check});
    }
    EXPECT_EQ(at, bytes.size()) << "encoded frames overrun the buffer";
  }

  Bytes bytes;
  std::vector<Hello> hellos;
  std::uint64_t hello_end_offset = 0;
  std::vector<Expected> expected;
};

void expect_hello_eq(const Hello& got, const Hello& want) {
  EXPECT_EQ(got.version_min, want.version_min);
  EXPECT_EQ(got.version_max, want.version_max);
  EXPECT_EQ(got.capabilities, want.capabilities);
}

Script::Check expect_empty() {
  return [](const Frame& f) { EXPECT_TRUE(f.payload.empty()); };
}

Script::Check expect_error(const ErrorMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_error(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(fields(*got), fields(want));
  };
}

Script::Check expect_put(const PutMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_put(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(fields(*got), fields(want));
  };
}

Script::Check expect_get(const GetMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_get(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(fields(*got), fields(want));
  };
}

Script::Check expect_path(const std::string& want) {
  return [want](const Frame& f) {
    auto got = decode_path_msg(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->path, want);
  };
}

Script::Check expect_put_ready(std::uint64_t offset) {
  return [offset](const Frame& f) {
    auto got = decode_put_ready(f.payload, false);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->offset, offset);
  };
}

Script::Check expect_get_ready(const GetReadyMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_get_ready(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(fields(*got), fields(want));
  };
}

Script::Check expect_end(const EndMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_end(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->total_size, want.total_size);
    EXPECT_EQ(got->file_hash, want.file_hash);
  };
}

Script::Check expect_data(std::uint64_t offset, std::shared_ptr<const Bytes> want) {
  return [offset, want](const Frame& f) {
    auto got = decode_data(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->offset, offset);
    EXPECT_EQ(got->chunk_hash, hash64(*want));
    ASSERT_EQ(got->bytes.size(), want->size());
    // Compare with memcmp: a 4 MiB EXPECT_EQ failure message would be useless.
    EXPECT_EQ(std::memcmp(got->bytes.data(), want->data(), want->size()), 0);
  };
}

/// A compressed DATA (COMPRESS, section 5.15) of `want`: the flag, the hash
/// of the plain chunk, and a zstd frame declaring and giving back `want`.
Script::Check expect_compressed_data(std::uint64_t offset, std::shared_ptr<const Bytes> want) {
  return [offset, want](const Frame& f) {
    EXPECT_EQ(f.header.flags, kFlagCompressed);
    auto got = decode_data(f.payload, f.header.flags);
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->compressed);
    EXPECT_EQ(got->offset, offset);
    EXPECT_EQ(got->chunk_hash, hash64(*want));
    EXPECT_LT(got->bytes.size(), want->size());
    EXPECT_EQ(ChunkDecompressor::declared_size(got->bytes), want->size());
    Bytes plain;
    ChunkDecompressor decompressor;
    ASSERT_EQ(inflate_data_payload(decompressor, f.payload, want->size(), plain), "");
    auto inflated = decode_data(plain);
    ASSERT_TRUE(inflated.has_value());
    EXPECT_EQ(inflated->offset, offset);
    EXPECT_TRUE(
        std::equal(inflated->bytes.begin(), inflated->bytes.end(), want->begin(), want->end()));
  };
}

/// Appends the compressed DATA of `chunk` (it must compress).
void encode_compressed(Bytes& out, std::uint32_t id, std::uint64_t offset, const Bytes& chunk) {
  ChunkCompressor compressor(kDefaultCompressLevel);
  Bytes frame;
  ASSERT_TRUE(compressor.compress(chunk, frame));
  encode_compressed_data(out, id, offset, hash64(chunk), frame);
}

/// Checks that consecutive ENTRIES frames give back `want` in order, MORE on
/// every frame but the one that completes the list.
Script::Check expect_entries(std::shared_ptr<const std::vector<Entry>> want) {
  auto cursor = std::make_shared<std::size_t>(0);
  return [want, cursor](const Frame& f) {
    auto got = decode_entries(f);
    ASSERT_TRUE(got.has_value());
    ASSERT_LE(*cursor + got->entries.size(), want->size());
    for (const Entry& e : got->entries) EXPECT_EQ(e, (*want)[(*cursor)++]);
    EXPECT_EQ(got->more, *cursor < want->size());
    EXPECT_EQ(got->more, (f.header.flags & kFlagMore) != 0);
  };
}

std::vector<Entry> sample_entries(std::size_t n, std::size_t name_length) {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < n; ++i) {
    Entry e;
    std::string index = std::to_string(i);
    e.name = std::string(name_length - index.size(), 'n') + index;
    e.type = static_cast<EntryType>(1 + i % 4);
    e.size = e.type == EntryType::kFile ? i * 1000003 : 0;
    e.mtime_ns = static_cast<std::int64_t>(i) * -1000000007LL;
    e.mode = static_cast<std::uint32_t>(i % 010000);
    out.push_back(std::move(e));
  }
  return out;
}

Script::Check expect_hole(const HoleMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_hole(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->offset, want.offset);
    EXPECT_EQ(got->length, want.length);
  };
}

Script::Check expect_hardlink(const HardlinkMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_hardlink(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->path, want.path);
    EXPECT_EQ(got->existing, want.existing);
  };
}

Script::Check expect_attrs(const AttrsMsg& want) {
  return [want](const Frame& f) {
    auto got = decode_attrs(f.payload);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(std::tie(got->path, got->fields, got->mode, got->uid, got->gid, got->user, got->group,
                       got->xattrs),
              std::tie(want.path, want.fields, want.mode, want.uid, want.gid, want.user, want.group,
                       want.xattrs));
  };
}

/// Entries with the ARCHIVE metadata: names of any bytes, owners, link
/// keys, attributes with NULs in their values, some near the limit.
std::vector<Entry> archive_entries(std::size_t n) {
  std::vector<Entry> out = sample_entries(n, 30);
  for (std::size_t i = 0; i < out.size(); ++i) {
    Entry& e = out[i];
    e.name = "\xff\x1b\n" + e.name;
    e.target = e.type == EntryType::kSymlink ? "/abs/../../\x01" : "";
    e.meta.uid = static_cast<std::uint32_t>(i * 7);
    e.meta.gid = 0xfffffffe;
    e.meta.user = i % 3 == 0 ? "" : "user" + std::to_string(i);
    e.meta.group = "group";
    e.meta.link_key = i % 5 == 0 ? 0 : 0x8000000000000001ULL + i;
    if (i % 4 == 0) {
      e.meta.xattrs.push_back(Xattr{"user.a", std::string("\0\1\2", 3)});
      e.meta.xattrs.push_back(Xattr{"system.posix_acl_access", std::string(44, '\x7f')});
    }
    if (i % 50 == 0) e.meta.xattrs.push_back(Xattr{"user.big", std::string(20000, 'b')});
  }
  return out;
}

/// What a client writes: hello, every C→S type and both DATA sizes.
Script client_script() {
  Script s;
  s.hello(Hello{1, 3, 0xdeadbeef});

  PutMsg put{"dir/ünïcødé/файл.bin",
             0x0123456789abcdefULL,
             07777,
             -1234567890123456789LL,
             limits::kMinChunkSize,
             0,
             ""};
  s.frames(
      FrameType::kPut, 1, [&](Bytes& b) { encode_put(b, 1, put); }, expect_put(put));
  PutMsg long_put{std::string(limits::kMaxPathBytes, 'p'), 0, 0, 0, limits::kMaxChunkSize, 0, ""};
  s.frames(
      FrameType::kPut, 2, [&](Bytes& b) { encode_put(b, 2, long_put); }, expect_put(long_put));

  GetMsg get{"a/b c/d", std::numeric_limits<std::uint64_t>::max()};
  s.frames(
      FrameType::kGet, 3, [&](Bytes& b) { encode_get(b, 3, get); }, expect_get(get));
  s.frames(
      FrameType::kList, 4, [&](Bytes& b) { encode_list(b, 4, PathMsg{""}); }, expect_path(""));
  s.frames(
      FrameType::kList, 5, [&](Bytes& b) { encode_list(b, 5, PathMsg{"x/y"}); },
      expect_path("x/y"));
  s.frames(
      FrameType::kStat, 6, [&](Bytes& b) { encode_stat(b, 6, PathMsg{"a.txt"}); },
      expect_path("a.txt"));
  s.frames(
      FrameType::kCancel, 7, [&](Bytes& b) { encode_cancel(b, 7); }, expect_empty());
  // LINK (section 5.8): without and with the hash.
  for (const LinkMsg& link :
       {LinkMsg{"snap/2/a", "snap/1/a", 12345, -7, 0644, 0, {}},
        LinkMsg{"b", std::string(limits::kMaxPathBytes, 'r'), ~0ULL, 1, 07777, kLinkCheckHash,
                Hash128{0x0123456789abcdefULL, 0xfedcba9876543210ULL}}}) {
    s.frames(
        FrameType::kLink, 21, [&](Bytes& b) { encode_link(b, 21, link); },
        [link](const Frame& f) {
          auto got = decode_link(f.payload);
          ASSERT_TRUE(got.has_value());
          EXPECT_EQ(std::tie(got->path, got->reference, got->size, got->mtime_ns, got->mode,
                             got->link_flags),
                    std::tie(link.path, link.reference, link.size, link.mtime_ns, link.mode,
                             link.link_flags));
          EXPECT_EQ(got->content_hash, link.content_hash);
        });
  }
  // DELETE (section 5.7): a path of every length class and the flags word.
  for (const DeleteMsg& del :
       {DeleteMsg{"a/ü/x", 0}, DeleteMsg{std::string(limits::kMaxPathBytes, 'd'), 0},
        DeleteMsg{"y", 0xffffffff}}) {
    s.frames(
        FrameType::kDelete, 20, [&](Bytes& b) { encode_delete(b, 20, del); },
        [del](const Frame& f) {
          auto got = decode_delete(f.payload);
          ASSERT_TRUE(got.has_value());
          EXPECT_EQ(got->path, del.path);
          EXPECT_EQ(got->delete_flags, del.delete_flags);
        });
  }

  auto one = std::make_shared<const Bytes>(Bytes{0x5a});
  s.frames(
      FrameType::kData, 8, [&](Bytes& b) { encode_data(b, 8, 0, *one); }, expect_data(0, one));
  auto big = std::make_shared<const Bytes>(pattern_bytes(limits::kMaxChunkSize, 99));
  s.frames(
      FrameType::kData, 8, [&](Bytes& b) { encode_data(b, 8, 1, *big); }, expect_data(1, big));
  // The same chunk through the head-only encoder, as a sender would write it.
  s.frames(
      FrameType::kData, 9,
      [&](Bytes& b) {
        std::size_t at = b.size();
        b.resize(at + kDataHeadSize);
        encode_data_head(b.data() + at, 9, 1ULL << 40, hash64(*one), 1);
        b.push_back((*one)[0]);
      },
      expect_data(1ULL << 40, one));
  // COMPRESS (section 5.15): a whole chunk of text as one zstd frame.
  auto text = std::make_shared<const Bytes>(Bytes(limits::kDefaultChunkSize, 'a'));
  s.frames(
      FrameType::kData, 9, [&](Bytes& b) { encode_compressed(b, 9, 4096, *text); },
      expect_compressed_data(4096, text));

  EndMsg end{limits::kMaxChunkSize + 1ULL, hash128(*big)};
  s.frames(
      FrameType::kEnd, 0xffffffff, [&](Bytes& b) { encode_end(b, 0xffffffff, end); },
      expect_end(end));

  // ARCHIVE and SPARSE (section 5.9).
  HardlinkMsg link{"a/\xff\n-second", "b/first"};
  s.frames(
      FrameType::kHardlink, 20, [&](Bytes& b) { encode_hardlink(b, 20, link); },
      expect_hardlink(link));
  AttrsMsg attrs{
      "d/f", kAttrsKnown, 04755,  4242,
      0,     "",          "root", {Xattr{"user.x", std::string("\0", 1)}, Xattr{"trusted.y", ""}}};
  s.frames(
      FrameType::kAttrs, 21, [&](Bytes& b) { encode_attrs(b, 21, attrs); }, expect_attrs(attrs));
  HoleMsg hole{1ULL << 40, (1ULL << 62) - 1};
  s.frames(
      FrameType::kHole, 22, [&](Bytes& b) { encode_hole(b, 22, hole); }, expect_hole(hole));
  return s;
}

/// What a server writes: hello, every S→C type, multi-frame ENTRIES, DATA.
Script server_script() {
  Script s;
  s.hello(Hello{1, 1, 0});

  ErrorMsg connection{static_cast<std::uint16_t>(ErrorCode::UNSUPPORTED_VERSION), "",
                      "no protocol version in common"};
  s.frames(
      FrameType::kError, 0, [&](Bytes& b) { encode_error(b, 0, connection); },
      expect_error(connection));
  // A code this build does not know must still travel (a newer server).
  ErrorMsg future{0xfffe, "ü/x", "un message accentué"};
  s.frames(
      FrameType::kError, 10, [&](Bytes& b) { encode_error(b, 10, future); }, expect_error(future));
  s.frames(
      FrameType::kOk, 11, [&](Bytes& b) { encode_ok(b, 11); }, expect_empty());
  s.frames(
      FrameType::kPutReady, 12,
      [&](Bytes& b) {
        encode_put_ready(b, 12, PutReadyMsg{0, std::nullopt});
      },
      expect_put_ready(0));
  s.frames(
      FrameType::kPutReady, 13,
      [&](Bytes& b) {
        encode_put_ready(b, 13, PutReadyMsg{~0ULL, std::nullopt});
      },
      expect_put_ready(~0ULL));
  GetReadyMsg ready{123456789, std::numeric_limits<std::int64_t>::min(), 0644,
                    limits::kMaxChunkSize};
  s.frames(
      FrameType::kGetReady, 14, [&](Bytes& b) { encode_get_ready(b, 14, ready); },
      expect_get_ready(ready));

  auto many = std::make_shared<const std::vector<Entry>>(sample_entries(3000, 40));
  s.frames(
      FrameType::kEntries, 15, [&](Bytes& b) { encode_entries(b, 15, *many); },
      expect_entries(many));
  auto none = std::make_shared<const std::vector<Entry>>();
  s.frames(
      FrameType::kEntries, 16, [&](Bytes& b) { encode_entries(b, 16, *none); },
      expect_entries(none));

  auto one = std::make_shared<const Bytes>(Bytes{0x00});
  s.frames(
      FrameType::kData, 17, [&](Bytes& b) { encode_data(b, 17, 7, *one); }, expect_data(7, one));
  auto big = std::make_shared<const Bytes>(pattern_bytes(limits::kMaxChunkSize, 5));
  s.frames(
      FrameType::kData, 17, [&](Bytes& b) { encode_data(b, 17, 8, *big); }, expect_data(8, big));
  auto text = std::make_shared<const Bytes>(Bytes(100'000, 'z'));
  s.frames(
      FrameType::kData, 17, [&](Bytes& b) { encode_compressed(b, 17, 9, *text); },
      expect_compressed_data(9, text));
  EndMsg end{0, hash128({})};
  s.frames(
      FrameType::kEnd, 17, [&](Bytes& b) { encode_end(b, 17, end); }, expect_end(end));

  auto archived = std::make_shared<const std::vector<Entry>>(archive_entries(400));
  s.frames(
      FrameType::kEntries, 18,
      [&](Bytes& b) { encode_entries(b, 18, *archived, kFlagTargets | kFlagMeta); },
      expect_entries(archived));
  HoleMsg hole{0, 1};
  s.frames(
      FrameType::kHole, 19, [&](Bytes& b) { encode_hole(b, 19, hole); }, expect_hole(hole));
  return s;
}

class CodecRoundTrip : public ::testing::TestWithParam<FeedPlan> {
 protected:
  static void check(const Script& s, Sender sender, const FeedPlan& plan) {
    DecodeRun run = run_decoder(s.bytes, options_for(sender), plan);
    ASSERT_FALSE(run.error.has_value())
        << to_string(run.error->kind) << " at " << run.error->offset << ": " << run.error->reason;
    EXPECT_EQ(run.finish_status, DecodeStatus::kNeedMore);
    EXPECT_EQ(run.fed, s.bytes.size());

    ASSERT_EQ(run.hellos.size(), 1u);
    expect_hello_eq(run.hellos[0], s.hellos[0]);
    ASSERT_EQ(run.frames.size(), s.expected.size());
    ASSERT_EQ(run.item_end_offsets.size(), 1 + s.expected.size());
    EXPECT_EQ(run.item_end_offsets[0], s.hello_end_offset);
    for (std::size_t i = 0; i < s.expected.size(); ++i) {
      SCOPED_TRACE("frame " + std::to_string(i) + " " +
                   frame_type_name(static_cast<std::uint8_t>(s.expected[i].type)));
      const Frame& f = run.frames[i];
      const Script::Expected& want = s.expected[i];
      EXPECT_EQ(f.header.type, want.type);
      EXPECT_EQ(f.header.flags, want.flags);
      EXPECT_EQ(f.header.request_id, want.id);
      EXPECT_EQ(f.header.payload_length, want.payload_length);
      EXPECT_EQ(f.payload.size(), want.payload_length);
      EXPECT_EQ(run.item_end_offsets[i + 1], want.end_offset);
      want.check(f);
    }
  }
};

TEST_P(CodecRoundTrip, ClientToServer) {
  check(client_script(), Sender::kClient, GetParam());
}

TEST_P(CodecRoundTrip, ServerToClient) {
  check(server_script(), Sender::kServer, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Plans, CodecRoundTrip, ::testing::ValuesIn(all_feed_plans()),
                         [](const auto& info) { return plan_name(info.param); });

// The zero-copy promise: once a large DATA header is decoded and nothing is
// staged, write_area() is the frame's own payload buffer, and the frame that
// comes out owns that very buffer.
TEST(CodecZeroCopy, LargePayloadIsReceivedInPlace) {
  Bytes chunk = pattern_bytes(limits::kMaxChunkSize, 3);
  Bytes stream;
  encode_hello(stream, Hello{});
  encode_data(stream, 1, 0, chunk);
  const std::size_t head = limits::kHelloSize + limits::kFrameHeaderSize;

  FrameDecoder d(options_for(Sender::kClient));
  ASSERT_EQ(d.feed(ByteSpan(stream).first(head)), head);
  EXPECT_EQ(d.next(), DecodeStatus::kHello);
  EXPECT_EQ(d.next(), DecodeStatus::kNeedMore);

  // The payload is received in place, in areas that grow as bytes arrive
  // (a header alone costs little): each area continues the one before in
  // the same buffer, which becomes the frame's payload.
  std::span<std::uint8_t> area = d.write_area();
  EXPECT_LE(area.size(), 64u * 1024) << "the header alone filled in the declared length";
  const std::uint8_t* where = area.data();
  std::size_t received = 0;
  DecodeStatus status = DecodeStatus::kNeedMore;
  while (status == DecodeStatus::kNeedMore) {
    area = d.write_area();
    ASSERT_FALSE(area.empty());
    ASSERT_EQ(area.data(), where + received) << "a payload byte was moved";
    const std::size_t n = std::min(area.size(), limits::kMaxDataPayload - received);
    std::memcpy(area.data(), stream.data() + head + received, n);
    d.commit(n);
    received += n;
    status = d.next();
  }
  ASSERT_EQ(status, DecodeStatus::kFrame);
  EXPECT_EQ(received, limits::kMaxDataPayload);
  EXPECT_EQ(d.write_area().size(), FrameDecoder::kStagingSize) << "staging after the frame";
  Frame f = d.take_frame();
  EXPECT_EQ(f.payload.data(), where);
  auto data = decode_data(f.payload);
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(data->chunk_hash, hash64(chunk));
  EXPECT_EQ(d.offset(), stream.size());
  EXPECT_EQ(d.next(), DecodeStatus::kNeedMore);
  EXPECT_EQ(d.finish(), DecodeStatus::kNeedMore);
}

// offset() counts "bytes of the stream consumed into complete items": a frame
// whose header is in but whose payload is not is not complete yet.
TEST(CodecOffset, CountsOnlyCompleteItems) {
  Bytes stream;
  encode_hello(stream, Hello{});
  encode_data(stream, 1, 0, Bytes(100, 7));
  FrameDecoder d(options_for(Sender::kClient));
  const std::size_t head = limits::kHelloSize + limits::kFrameHeaderSize + 10;
  ASSERT_EQ(d.feed(ByteSpan(stream).first(head)), head);
  EXPECT_EQ(d.next(), DecodeStatus::kHello);
  EXPECT_EQ(d.offset(), limits::kHelloSize);
  EXPECT_EQ(d.next(), DecodeStatus::kNeedMore);
  EXPECT_EQ(d.offset(), limits::kHelloSize) << "offset() counts a frame still incomplete";
  ASSERT_EQ(d.feed(ByteSpan(stream).subspan(head)), stream.size() - head);
  EXPECT_EQ(d.next(), DecodeStatus::kFrame);
  EXPECT_EQ(d.offset(), stream.size());
}

// A decoder made for a stream without hello (expect_hello = false) reads
// frames from byte 0.
TEST(CodecNoHello, FramesFromTheFirstByte) {
  Bytes stream;
  encode_ok(stream, 1);
  encode_put_ready(stream, 2, PutReadyMsg{5, std::nullopt});
  FrameDecoder::Options options = options_for(Sender::kServer);
  options.expect_hello = false;
  for (const FeedPlan& plan : all_feed_plans()) {
    SCOPED_TRACE(plan_name(plan));
    DecodeRun run = run_decoder(stream, options, plan);
    EXPECT_FALSE(run.error.has_value());
    EXPECT_TRUE(run.hellos.empty());
    ASSERT_EQ(run.frames.size(), 2u);
    EXPECT_EQ(run.frames[1].header.type, FrameType::kPutReady);
    EXPECT_EQ(run.item_end_offsets[0], 12u);
    EXPECT_EQ(run.item_end_offsets[1], 32u);
  }
}

}  // namespace
}  // namespace ft::test
