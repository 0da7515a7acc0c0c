#include "common/wire/archive_messages.hpp"

#include "common/wire/frame_writer.hpp"

namespace ft {
namespace {

// An owner name or an attribute name is cut at its limit when sent: a name
// the limit cannot hold cannot be a real one.
std::string_view capped(const std::string& s, std::size_t max) {
  return std::string_view(s).substr(0, max);
}

void write_xattrs(ByteWriter& w, const std::vector<Xattr>& xattrs) {
  w.u16(static_cast<std::uint16_t>(xattrs.size()));
  for (const Xattr& x : xattrs) {
    w.str(capped(x.name, limits::kMaxXattrNameBytes));
    w.u16(static_cast<std::uint16_t>(x.value.size()));
    w.raw(ByteSpan(reinterpret_cast<const std::uint8_t*>(x.value.data()), x.value.size()));
  }
}

// Reads an attribute block, refusing one over kMaxXattrBlockBytes before it
// allocates more than the payload it came in.
bool read_xattrs(ByteReader& r, std::vector<Xattr>& out) {
  const std::size_t before = r.remaining();
  const std::uint16_t count = r.u16();
  // Each attribute takes at least 2 + 1 + 2 bytes.
  if (!r.ok() || count > r.remaining() / 5) return false;
  out.clear();
  out.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    Xattr x;
    x.name = r.str();
    const std::uint16_t length = r.u16();
    ByteSpan value = r.raw(length);
    if (!r.ok() || x.name.empty() || !string_ok(x.name, limits::kMaxXattrNameBytes)) return false;
    x.value.assign(reinterpret_cast<const char*>(value.data()), value.size());
    out.push_back(std::move(x));
  }
  return before - r.remaining() <= limits::kMaxXattrBlockBytes;
}

}  // namespace

std::size_t xattr_block_size(const std::vector<Xattr>& xattrs) {
  std::size_t size = 2;
  for (const Xattr& x : xattrs) {
    size += 2 + std::min(x.name.size(), limits::kMaxXattrNameBytes) + 2 + x.value.size();
  }
  return size;
}

std::size_t entry_meta_size(const EntryMeta& meta) {
  return 4 + 4 + 2 + capped(meta.user, limits::kMaxOwnerNameBytes).size() + 2 +
         capped(meta.group, limits::kMaxOwnerNameBytes).size() + 8 + xattr_block_size(meta.xattrs);
}

void write_entry_meta(ByteWriter& w, const EntryMeta& meta) {
  w.u32(meta.uid);
  w.u32(meta.gid);
  w.str(capped(meta.user, limits::kMaxOwnerNameBytes));
  w.str(capped(meta.group, limits::kMaxOwnerNameBytes));
  w.u64(meta.link_key);
  write_xattrs(w, meta.xattrs);
}

bool read_entry_meta(ByteReader& r, EntryMeta& meta) {
  meta.uid = r.u32();
  meta.gid = r.u32();
  meta.user = r.str();
  meta.group = r.str();
  meta.link_key = r.u64();
  return r.ok() && string_ok(meta.user, limits::kMaxOwnerNameBytes) &&
         string_ok(meta.group, limits::kMaxOwnerNameBytes) && read_xattrs(r, meta.xattrs);
}

void encode_hardlink(Bytes& out, std::uint32_t id, const HardlinkMsg& m) {
  encode_frame(out, FrameType::kHardlink, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.str(m.existing);
  });
}

void encode_attrs(Bytes& out, std::uint32_t id, const AttrsMsg& m) {
  encode_frame(out, FrameType::kAttrs, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.u32(m.fields);
    w.u32(m.mode);
    w.u32(m.uid);
    w.u32(m.gid);
    w.str(capped(m.user, limits::kMaxOwnerNameBytes));
    w.str(capped(m.group, limits::kMaxOwnerNameBytes));
    write_xattrs(w, m.xattrs);
  });
}

void encode_hole(Bytes& out, std::uint32_t id, const HoleMsg& m) {
  encode_frame(out, FrameType::kHole, 0, id, [&](ByteWriter& w) {
    w.u64(m.offset);
    w.u64(m.length);
  });
}

std::optional<HardlinkMsg> decode_hardlink(ByteSpan payload) {
  ByteReader r(payload);
  HardlinkMsg m;
  m.path = r.str();
  m.existing = r.str();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) ||
      !string_ok(m.existing, limits::kMaxPathBytes)) {
    return std::nullopt;
  }
  return m;
}

std::optional<AttrsMsg> decode_attrs(ByteSpan payload) {
  ByteReader r(payload);
  AttrsMsg m;
  m.path = r.str();
  m.fields = r.u32();
  m.mode = r.u32();
  m.uid = r.u32();
  m.gid = r.u32();
  m.user = r.str();
  m.group = r.str();
  if (!r.ok() || !read_xattrs(r, m.xattrs) || !r.done() ||
      !string_ok(m.path, limits::kMaxPathBytes) || !string_ok(m.user, limits::kMaxOwnerNameBytes) ||
      !string_ok(m.group, limits::kMaxOwnerNameBytes) || (m.fields & ~kAttrsKnown) != 0 ||
      m.mode > 07777) {
    return std::nullopt;
  }
  return m;
}

std::optional<HoleMsg> decode_hole(ByteSpan payload) {
  ByteReader r(payload);
  HoleMsg m;
  m.offset = r.u64();
  m.length = r.u64();
  constexpr std::uint64_t kMaxOffset = std::uint64_t{1} << 63;
  if (!r.done() || m.length == 0 || m.offset >= kMaxOffset || m.length > kMaxOffset - m.offset) {
    return std::nullopt;
  }
  return m;
}

}  // namespace ft
