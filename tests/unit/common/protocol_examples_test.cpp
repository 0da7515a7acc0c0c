// The byte-exact examples of docs/protocol.md, read out of the document
// itself: every ```ft-example block decodes with the codec (whole and byte by
// byte) and re-encodes to exactly its bytes, or is refused for the reason it
// names; every frame type has an example, and every row of the error scope
// table names examples that exist. The document and the code cannot drift.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/wire/chunk_compression.hpp"
#include "common/wire/frame_check.hpp"
#include "common/wire/messages.hpp"

#ifndef FT_SOURCE_DIR
#error "FT_SOURCE_DIR must name the source tree (set by tests/unit/common/CMakeLists.txt)"
#endif

namespace ft::test {
namespace {

/// One ```ft-example NAME DIRECTION [OPTION...] block.
struct Example {
  std::string name;
  Sender sender = Sender::kClient;
  bool hello = false;   // option "hello": a hello, not a frame
  bool resume = false;  // option "resume": decode PUT_READY with its prefix hash
  bool check = false;   // option "check": FRAME_CHECK agreed, the frame has its check block
  std::string reject;   // option "reject=KIND": the codec must refuse it so
  Bytes bytes;
  int line = 0;
};

std::string protocol_md() {
  std::ifstream in(std::string(FT_SOURCE_DIR) + "/docs/protocol.md", std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open docs/protocol.md";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<Example> examples() {
  std::istringstream doc(protocol_md());
  std::vector<Example> out;
  std::string line;
  int number = 0;
  const std::string opener = "```ft-example ";
  while (std::getline(doc, line)) {
    ++number;
    if (line.rfind(opener, 0) != 0) continue;
    Example e;
    e.line = number;
    std::vector<std::string> info = words(line.substr(opener.size()));
    EXPECT_GE(info.size(), 2u) << "line " << number << ": name and direction expected";
    if (info.size() < 2) continue;
    e.name = info[0];
    EXPECT_TRUE(info[1] == "C" || info[1] == "S") << e.name << ": direction C or S";
    e.sender = info[1] == "S" ? Sender::kServer : Sender::kClient;
    for (std::size_t i = 2; i < info.size(); ++i) {
      if (info[i] == "hello") {
        e.hello = true;
      } else if (info[i] == "resume") {
        e.resume = true;
      } else if (info[i] == "check") {
        e.check = true;
      } else if (info[i].rfind("reject=", 0) == 0) {
        e.reject = info[i].substr(7);
      } else {
        ADD_FAILURE() << e.name << ": unknown option " << info[i];
      }
    }
    while (std::getline(doc, line) && line.rfind("```", 0) != 0) {
      ++number;
      const std::string hex = line.substr(0, line.find('#'));
      for (const std::string& token : words(hex)) {
        EXPECT_TRUE(token.size() % 2 == 0 &&
                    token.find_first_not_of("0123456789abcdef") == std::string::npos)
            << e.name << " line " << number << ": not lowercase hex bytes: " << token;
        for (std::size_t i = 0; i + 1 < token.size(); i += 2) {
          e.bytes.push_back(static_cast<std::uint8_t>(std::stoul(token.substr(i, 2), nullptr, 16)));
        }
      }
    }
    ++number;
    out.push_back(std::move(e));
  }
  return out;
}

/// What the decoder made of an example's bytes.
struct Decoded {
  DecodeStatus status = DecodeStatus::kNeedMore;
  Hello hello;
  Frame frame;
  DecodeError error{DecodeErrorKind::kTruncated, 0, {}};
  std::uint64_t consumed = 0;
};

/// Feeds `bytes` `step` bytes at a time until the decoder yields something.
Decoded decode(const Example& e, std::size_t step) {
  FrameDecoder decoder(
      FrameDecoder::Options{.sender = e.sender, .expect_hello = e.hello, .frame_check = e.check});
  Decoded out;
  std::size_t at = 0;
  for (;;) {
    out.status = decoder.next();
    if (out.status != DecodeStatus::kNeedMore || at == e.bytes.size()) break;
    const std::size_t n = std::min(step, e.bytes.size() - at);
    at += decoder.feed(ByteSpan(e.bytes.data() + at, n));
  }
  // The end of the stream is an input: a cut frame is an error.
  if (out.status == DecodeStatus::kNeedMore) out.status = decoder.finish();
  if (out.status == DecodeStatus::kHello) out.hello = decoder.hello();
  if (out.status == DecodeStatus::kFrame) out.frame = decoder.take_frame();
  if (out.status == DecodeStatus::kError) out.error = decoder.error();
  out.consumed = decoder.offset();
  return out;
}

/// The frame decoded into its message and encoded again by the codec;
/// nullopt when the codec refuses the payload as malformed.
std::optional<Bytes> reencode(const Frame& f, bool resume) {
  Bytes out;
  const ByteSpan p(f.payload);
  const std::uint32_t id = f.header.request_id;
  switch (f.header.type) {
    case FrameType::kError: {
      auto m = decode_error(p);
      if (!m) return std::nullopt;
      encode_error(out, id, *m);
      break;
    }
    case FrameType::kOk:
      if (!p.empty()) return std::nullopt;
      encode_ok(out, id);
      break;
    case FrameType::kCancel:
      if (!p.empty()) return std::nullopt;
      encode_cancel(out, id);
      break;
    case FrameType::kNext:
      if (!p.empty()) return std::nullopt;
      encode_next(out, id);
      break;
    case FrameType::kData: {
      auto m = decode_data(p, f.header.flags);
      if (!m) return std::nullopt;
      if (m->compressed) {
        // COMPRESS (section 5.15): the hash is of the decompressed chunk.
        auto declared = ChunkDecompressor::declared_size(m->bytes);
        if (!declared) return std::nullopt;
        ChunkDecompressor decompressor;
        Bytes plain(static_cast<std::size_t>(*declared));
        EXPECT_EQ(decompressor.decompress(m->bytes, plain), "");
        EXPECT_EQ(hash64(plain), m->chunk_hash) << "the example's hash is not the chunk's";
        encode_compressed_data(out, id, m->offset, m->chunk_hash, m->bytes);
      } else {
        encode_data(out, id, m->offset, m->bytes);  // computes the chunk hash anew
      }
      break;
    }
    case FrameType::kEnd: {
      auto m = decode_end(p);
      if (!m) return std::nullopt;
      encode_end(out, id, *m);
      break;
    }
    case FrameType::kPut: {
      auto m = decode_put(p);
      if (!m) return std::nullopt;
      encode_put(out, id, *m);
      break;
    }
    case FrameType::kPutReady: {
      auto m = decode_put_ready(p, resume);
      if (!m) return std::nullopt;
      encode_put_ready(out, id, *m);
      break;
    }
    case FrameType::kGet: {
      auto m = decode_get(p);
      if (!m) return std::nullopt;
      encode_get(out, id, *m, f.header.flags);
      break;
    }
    case FrameType::kGetReady: {
      auto m = decode_get_ready(p);
      if (!m) return std::nullopt;
      encode_get_ready(out, id, *m);
      break;
    }
    case FrameType::kList:
    case FrameType::kStat: {
      auto m = decode_path_msg(p);
      if (!m) return std::nullopt;
      if (f.header.type == FrameType::kList) {
        encode_list(out, id, *m, f.header.flags);
      } else {
        encode_stat(out, id, *m, f.header.flags);
      }
      break;
    }
    case FrameType::kEntries: {
      auto m = decode_entries(f);
      if (!m) return std::nullopt;
      // The encoder sets MORE only when entries overflow one frame: an
      // example of one frame is the last one.
      EXPECT_FALSE(m->more) << "an ENTRIES example must be a last frame";
      encode_entries(out, id, m->entries, m->fields);
      break;
    }
    case FrameType::kMkdir: {
      auto m = decode_mkdir(p);
      if (!m) return std::nullopt;
      encode_mkdir(out, id, *m);
      break;
    }
    case FrameType::kSymlink: {
      auto m = decode_symlink(p);
      if (!m) return std::nullopt;
      encode_symlink(out, id, *m);
      break;
    }
    case FrameType::kLink: {
      auto m = decode_link(p);
      if (!m) return std::nullopt;
      encode_link(out, id, *m);
      break;
    }
    case FrameType::kDelete: {
      auto m = decode_delete(p);
      if (!m) return std::nullopt;
      encode_delete(out, id, *m);
      break;
    }
    case FrameType::kSignature: {
      auto m = decode_signature(p);
      if (!m) return std::nullopt;
      encode_signature(out, id, *m);
      break;
    }
    case FrameType::kCopy: {
      auto m = decode_copy(p);
      if (!m) return std::nullopt;
      encode_copy(out, id, *m);
      break;
    }
    case FrameType::kHardlink: {
      auto m = decode_hardlink(p);
      if (!m) return std::nullopt;
      encode_hardlink(out, id, *m);
      break;
    }
    case FrameType::kAttrs: {
      auto m = decode_attrs(p);
      if (!m) return std::nullopt;
      encode_attrs(out, id, *m);
      break;
    }
    case FrameType::kHole: {
      auto m = decode_hole(p);
      if (!m) return std::nullopt;
      encode_hole(out, id, *m);
      break;
    }
  }
  return out;
}

const std::map<std::string, DecodeErrorKind>& reject_kinds() {
  static const std::map<std::string, DecodeErrorKind> kinds = {
      {"bad-magic", DecodeErrorKind::kBadMagic},
      {"wrong-version", DecodeErrorKind::kWrongVersion},
      {"unknown-type", DecodeErrorKind::kUnknownType},
      {"wrong-direction", DecodeErrorKind::kWrongDirection},
      {"bad-flags", DecodeErrorKind::kBadFlags},
      {"reserved", DecodeErrorKind::kReservedNotZero},
      {"zero-id", DecodeErrorKind::kZeroRequestId},
      {"too-large", DecodeErrorKind::kPayloadTooLarge},
      {"truncated", DecodeErrorKind::kTruncated},
      {"frame-check", DecodeErrorKind::kFrameCheck},
  };
  return kinds;
}

std::string hex(const Bytes& bytes) {
  std::string out;
  for (std::uint8_t b : bytes) {
    static const char* digits = "0123456789abcdef";
    out += digits[b >> 4];
    out += digits[b & 15];
    out += ' ';
  }
  return out;
}

TEST(ProtocolExamples, EveryExampleDecodesAndEncodesToItsExactBytes) {
  const std::vector<Example> all = examples();
  ASSERT_GE(all.size(), 20u) << "docs/protocol.md lost its examples";
  std::set<std::string> names;
  for (const Example& e : all) {
    SCOPED_TRACE(e.name + " (docs/protocol.md line " + std::to_string(e.line) + ")");
    EXPECT_TRUE(names.insert(e.name).second) << "two examples named " << e.name;
    ASSERT_FALSE(e.bytes.empty());
    for (std::size_t step : {e.bytes.size(), std::size_t{1}, std::size_t{5}}) {
      const Decoded d = decode(e, step);
      if (reject_kinds().count(e.reject) != 0) {
        ASSERT_EQ(d.status, DecodeStatus::kError) << "step " << step;
        EXPECT_EQ(d.error.kind, reject_kinds().at(e.reject)) << d.error.reason;
        continue;
      }
      ASSERT_EQ(d.status, e.hello ? DecodeStatus::kHello : DecodeStatus::kFrame)
          << "step " << step << ": " << d.error.reason;
      EXPECT_EQ(d.consumed, e.bytes.size()) << "the example holds bytes after its item";
      std::optional<Bytes> again;
      if (e.hello) {
        again.emplace();
        encode_hello(*again, d.hello);
      } else {
        again = reencode(d.frame, e.resume);
        if (again && e.check) again = add_frame_checks(*again);
      }
      if (e.reject == "malformed") {
        EXPECT_FALSE(again) << "the codec accepts a payload the document calls malformed";
        continue;
      }
      ASSERT_TRUE(e.reject.empty()) << "unknown reject kind " << e.reject;
      ASSERT_TRUE(again) << "the codec refuses the payload as malformed";
      EXPECT_EQ(hex(*again), hex(e.bytes));
    }
  }
}

TEST(ProtocolExamples, EveryFrameTypeAndBothHellosHaveAnExample) {
  std::set<std::uint8_t> covered;
  bool client_hello = false, server_hello = false;
  for (const Example& e : examples()) {
    if (!e.reject.empty()) continue;
    if (e.hello) {
      (e.sender == Sender::kClient ? client_hello : server_hello) = true;
      continue;
    }
    if (!e.bytes.empty()) covered.insert(e.bytes[0]);
  }
  EXPECT_TRUE(client_hello);
  EXPECT_TRUE(server_hello);
#define FT_X(name, spelling, code, direction, flags, bulk) \
  EXPECT_EQ(covered.count(code), 1u) << "no example of " << spelling;
  FT_FRAME_TYPES(FT_X)
#undef FT_X
}

TEST(ProtocolExamples, EveryRowOfTheErrorScopeTableNamesItsExamples) {
  const std::string doc = protocol_md();
  const std::string begin = "<!-- error-scope:begin -->";
  const std::string end = "<!-- error-scope:end -->";
  const std::size_t b = doc.find(begin);
  const std::size_t e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  std::set<std::string> names;
  for (const Example& example : examples()) names.insert(example.name);
  std::istringstream table(doc.substr(b + begin.size(), e - b - begin.size()));
  int rows = 0;
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("| ", 0) != 0 || line.find("---") != std::string::npos) continue;
    const std::size_t last = line.rfind('|', line.size() - 2);
    const std::string cell = line.substr(last + 1);
    if (cell.find("example") != std::string::npos) continue;  // the heading
    ++rows;
    int referenced = 0;
    for (std::size_t at = cell.find('`'); at != std::string::npos;) {
      const std::size_t close = cell.find('`', at + 1);
      ASSERT_NE(close, std::string::npos) << line;
      const std::string name = cell.substr(at + 1, close - at - 1);
      EXPECT_EQ(names.count(name), 1u) << "the scope table names a missing example: " << name;
      ++referenced;
      at = cell.find('`', close + 1);
    }
    EXPECT_GE(referenced, 1) << "a row without an example: " << line;
  }
  EXPECT_GE(rows, 15);
}

}  // namespace
}  // namespace ft::test
