// libFuzzer target: an arbitrary byte stream through FrameDecoder in arbitrary
// splits, every decoded frame through its message decoder, then finish().
// Besides crashes, leaks and UB, it traps when an invariant breaks: a frame
// the header rules should have refused, a message that does not re-encode to
// the bytes it was decoded from, or an error that is not sticky.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "common/wire/archive_messages.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/frame_check.hpp"
#include "common/wire/messages.hpp"

namespace {

using namespace ft;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

/// The frame as it was on the wire: header then payload.
Bytes wire_of(const Frame& f) {
  Bytes out;
  encode_header(out, f.header);
  out.insert(out.end(), f.payload.begin(), f.payload.end());
  return out;
}

/// Decodes the payload with the decoder of its type; whatever decodes must
/// re-encode to the same bytes (the decoders are strict, the encoding unique).
void check_message(const Frame& f) {
  const Bytes wire = wire_of(f);
  Bytes again;
  const std::uint32_t id = f.header.request_id;
  switch (f.header.type) {
    case FrameType::kError:
      if (auto m = decode_error(f.payload)) {
        check(m->path.size() <= limits::kMaxPathBytes);
        check(m->path.find('\0') == std::string::npos);
        (void)to_string(static_cast<ErrorCode>(m->code));
        (void)printable(m->message);
        // The encoder cuts messages at 1024 bytes; only shorter ones round-trip.
        if (m->message.size() <= 1024) {
          encode_error(again, id, *m);
          check(again == wire);
        }
      }
      return;
    case FrameType::kOk:
    case FrameType::kCancel:
    case FrameType::kNext:
      // No decoder: the payload must be empty, a check left to the sessions.
      return;
    case FrameType::kData:
      if (auto d = decode_data(f.payload, f.header.flags)) {
        check(!d->bytes.empty());
        check(d->bytes.size() + limits::kDataPrefixSize == f.payload.size());
        check(d->bytes.size() <= limits::kMaxChunkSize);
        check(d->compressed == ((f.header.flags & kFlagCompressed) != 0));
        (void)hash64(d->bytes);
        // COMPRESS (section 5.15): the flag and the bytes as they came (the
        // chunk hash is of the decompressed chunk, so it is carried over).
        if (d->compressed) {
          encode_compressed_data(again, id, d->offset, d->chunk_hash, d->bytes);
        } else {
          again.resize(kDataHeadSize);
          encode_data_head(again.data(), id, d->offset, d->chunk_hash,
                           static_cast<std::uint32_t>(d->bytes.size()));
          again.insert(again.end(), d->bytes.begin(), d->bytes.end());
        }
        check(again == wire);
      } else {
        check(f.payload.size() <= limits::kDataPrefixSize);
      }
      return;
    case FrameType::kEnd:
      if (auto m = decode_end(f.payload)) {
        encode_end(again, id, *m);
        check(again == wire);
      } else {
        check(f.payload.size() != 24);
      }
      return;
    case FrameType::kPut:
      if (auto m = decode_put(f.payload)) {
        check(m->mode <= 07777);
        (void)path_violation(m->path, false);
        encode_put(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kPutReady:
      if (auto m = decode_put_ready(f.payload, false)) {
        encode_put_ready(again, id, *m);
        check(again == wire);
      } else {
        check(f.payload.size() != 8);
      }
      return;
    case FrameType::kGet:
      if (auto m = decode_get(f.payload)) {
        check((f.header.flags & ~kFlagDelta) == 0);
        encode_get(again, id, *m, f.header.flags);  // DELTA (section 5.16) travels in the header
        check(again == wire);
      }
      return;
    case FrameType::kGetReady:
      if (auto m = decode_get_ready(f.payload)) {
        check(m->chunk_size >= limits::kMinChunkSize && m->chunk_size <= limits::kMaxChunkSize);
        encode_get_ready(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kList:
    case FrameType::kStat:
      if (auto m = decode_path_msg(f.payload)) {
        (void)path_violation(m->path, true);
        if (f.header.type == FrameType::kList) {
          encode_list(again, id, *m, f.header.flags);
        } else {
          encode_stat(again, id, *m, f.header.flags);
        }
        check(again == wire);
      }
      return;
    case FrameType::kEntries:
      if (auto m = decode_entries(f)) {
        check(m->more == ((f.header.flags & kFlagMore) != 0));
        check(!m->paused || m->more);
        for (const Entry& e : m->entries) {
          check(e.name.size() <= limits::kMaxComponentBytes);
          check(static_cast<int>(e.type) >= 1 && static_cast<int>(e.type) <= 4);
          (void)component_violation(e.name);
          (void)printable(e.name);
        }
        // One decoded frame fits one encoded frame: the payloads match.
        encode_entries(again, id, m->entries, m->fields);
        check(again.size() == wire.size());
        check(std::memcmp(again.data() + limits::kFrameHeaderSize,
                          wire.data() + limits::kFrameHeaderSize,
                          wire.size() - limits::kFrameHeaderSize) == 0);
      }
      return;
    case FrameType::kMkdir:
      if (auto m = decode_mkdir(f.payload)) {
        (void)path_violation(m->path, true);
        encode_mkdir(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kSymlink:
      if (auto m = decode_symlink(f.payload)) {
        if (!path_violation(m->path, false)) (void)symlink_target_violation(m->path, m->target);
        encode_symlink(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kLink:
      if (auto m = decode_link(f.payload)) {
        (void)path_violation(m->path, false);
        (void)path_violation(m->reference, false);
        encode_link(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kDelete:
      if (auto m = decode_delete(f.payload)) {
        (void)path_violation(m->path, false);
        encode_delete(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kHardlink:
      if (auto m = decode_hardlink(f.payload)) {
        (void)path_violation(m->path, false, NameRules::kAnyBytes);
        (void)path_violation(m->existing, false, NameRules::kAnyBytes);
        encode_hardlink(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kAttrs:
      if (auto m = decode_attrs(f.payload)) {
        // Whatever it says, its attributes fit the limit a receiver holds.
        check(xattr_block_size(m->xattrs) <= limits::kMaxXattrBlockBytes);
        encode_attrs(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kHole:
      if (auto m = decode_hole(f.payload)) {
        encode_hole(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kSignature:
      if (auto m = decode_signature(f.payload)) {
        check(m->blocks.size() <= delta::kBlocksPerFrame);
        // What a receiver does with it: assembly is bounded whatever it says.
        delta::Signature signature;
        (void)signature.add(*m);
        check(signature.memory() <= delta::kMaxBlocks * sizeof(delta::BlockSum));
        encode_signature(again, id, *m);
        check(again == wire);
      }
      return;
    case FrameType::kCopy:
      if (auto m = decode_copy(f.payload)) {
        check(m->length > 0);
        encode_copy(again, id, *m);
        check(again == wire);
      } else {
        check(f.payload.size() != 24 || load_be64(f.payload.data() + 16) == 0);
      }
      return;
  }
  check(false);  // the header check let an unknown type through
}

/// A frame must have passed every header rule of docs/protocol.md section 3.
void check_header(const Frame& f, Sender sender) {
  const auto type = static_cast<std::uint8_t>(f.header.type);
  check(frame_type_allowed(type, sender));
  check(f.header.payload_length <= max_payload_for(f.header.type));
  check(f.payload.size() == f.header.payload_length);
  check(f.header.request_id != 0 || f.header.type == FrameType::kError);
  // docs/protocol.md section 4, restated rather than read from the table.
  std::uint8_t allowed = 0;
  if (f.header.type == FrameType::kEntries) {
    allowed = kFlagMore | kFlagHashes | kFlagTargets | kFlagMeta | kFlagPaced;  // 5.17
  } else if (f.header.type == FrameType::kList) {
    allowed = kFlagHashes | kFlagTargets | kFlagMeta | kFlagPaced;
  } else if (f.header.type == FrameType::kStat) {
    allowed = kFlagMeta;
  } else if (f.header.type == FrameType::kData) {
    allowed = kFlagCompressed;  // section 5.15
  } else if (f.header.type == FrameType::kGet) {
    allowed = kFlagDelta;  // section 5.16
  }
  check((f.header.flags & ~allowed) == 0);
}

/// With FRAME_CHECK on, a frame comes out only if the check block that
/// preceded its payload on the wire (`end` is the stream offset just past
/// the frame) matches its header and payload.
void check_frame_checked(const Frame& f, ByteSpan stream, std::uint64_t end) {
  const std::size_t length = f.payload.size();
  check(end >= limits::kFrameHeaderSize + limits::kFrameCheckSize + length);
  const std::uint8_t* start =
      stream.data() + (end - length - limits::kFrameCheckSize - limits::kFrameHeaderSize);
  check(load_be32(start + limits::kFrameHeaderSize) == header_check(start));
  check(load_be32(start + limits::kFrameHeaderSize + 4) ==
        payload_check(static_cast<std::uint8_t>(f.header.type), f.payload));
  check(length == 0 || std::memcmp(start + limits::kFrameHeaderSize + limits::kFrameCheckSize,
                                   f.payload.data(), length) == 0);
}

/// Chunk lengths from a small deterministic generator seeded by the input.
class Splitter {
 public:
  Splitter(std::uint8_t mode, std::uint32_t seed) : mode_(mode), state_(seed | 1) {}
  std::size_t next(std::size_t remaining) {
    if (mode_ == 0) return remaining;
    if (mode_ == 1) return 1;
    state_ = state_ * 1664525u + 1013904223u;
    std::size_t limit = (state_ >> 28) < 12 ? 17 : 70000;
    std::size_t n = 1 + (state_ >> 8) % limit;
    return n < remaining ? n : remaining;
  }

 private:
  std::uint8_t mode_;
  std::uint32_t state_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // Control byte: bit 0 sender, bits 1-2 split (whole, bytes, random x2),
  // bit 3 zero-copy input, bit 4 no hello, bits 5-6 our highest version,
  // bit 7 FRAME_CHECK (on from the first frame, as once both hellos agreed).
  const std::uint8_t control = data[0];
  const ByteSpan stream(data + 1, size - 1);
  FrameDecoder::Options options;
  options.sender = (control & 1) ? Sender::kServer : Sender::kClient;
  options.expect_hello = (control & 16) == 0;
  options.version_min = 1;
  options.version_max = static_cast<std::uint16_t>(1 + ((control >> 5) & 3));
  const bool frame_check = (control & 128) != 0;
  options.frame_check = frame_check && !options.expect_hello;
  const bool zero_copy = (control & 8) != 0;
  Splitter splitter(static_cast<std::uint8_t>((control >> 1) & 3), control * 2654435761u);

  FrameDecoder decoder(options);
  std::size_t pos = 0;
  bool failed = false;
  while (pos < stream.size() && !failed) {
    ByteSpan chunk = stream.subspan(pos, splitter.next(stream.size() - pos));
    while (!chunk.empty() && !failed) {
      std::size_t n = 0;
      if (zero_copy) {
        std::span<std::uint8_t> area = decoder.write_area();
        n = area.size() < chunk.size() ? area.size() : chunk.size();
        if (n > 0) std::memcpy(area.data(), chunk.data(), n);
        decoder.commit(n);
      } else {
        n = decoder.feed(chunk);
      }
      chunk = chunk.subspan(n);
      pos += n;
      for (;;) {
        DecodeStatus s = decoder.next();
        if (s == DecodeStatus::kNeedMore) break;
        if (s == DecodeStatus::kError) {
          failed = true;
          break;
        }
        check(decoder.offset() <= pos);
        if (s == DecodeStatus::kHello) {
          const Hello& h = decoder.hello();
          check(h.version_min <= h.version_max);
          check(h.version_max >= options.version_min && h.version_min <= options.version_max);
          decoder.set_frame_check(frame_check);
          continue;
        }
        Frame f = decoder.take_frame();
        check_header(f, options.sender);
        if (frame_check) check_frame_checked(f, stream, decoder.offset());
        check_message(f);
      }
      // A decoder that is not failed always takes bytes once drained.
      check(failed || n > 0);
    }
  }
  if (!failed && decoder.finish() == DecodeStatus::kError) failed = true;
  if (failed) {
    // Sticky and located within what was given.
    const DecodeError first = decoder.error();
    check(decoder.failed());
    check(first.offset <= pos);
    check(!first.reason.empty());
    check(decoder.next() == DecodeStatus::kError);
    check(decoder.finish() == DecodeStatus::kError);
    check(decoder.feed(stream) == 0);
    check(decoder.error().kind == first.kind && decoder.error().offset == first.offset);
  }
  return 0;
}
