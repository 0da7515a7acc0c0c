#include "common/wire/messages.hpp"

#include "common/wire/frame_writer.hpp"

namespace ft {
namespace {

constexpr std::size_t kEntryFixedSize = 2 + 1 + 8 + 8 + 4;

// Names are at most one component long (255 bytes on every Linux file
// system); the cap keeps every entry small enough for a frame.
std::string_view entry_name(const Entry& e) {
  return std::string_view(e.name).substr(0, limits::kMaxComponentBytes);
}

// A target longer than any path cannot be a valid one; the cap keeps every
// entry within a frame.
std::string_view entry_target(const Entry& e) {
  return std::string_view(e.target).substr(0, limits::kMaxPathBytes);
}

}  // namespace

void encode_error(Bytes& out, std::uint32_t id, const ErrorMsg& m) {
  encode_frame(out, FrameType::kError, 0, id, [&](ByteWriter& w) {
    w.u16(m.code);
    w.str(std::string_view(m.path).substr(0, limits::kMaxPathBytes));
    w.str(std::string_view(m.message).substr(0, 1024));
  });
}
void encode_ok(Bytes& out, std::uint32_t id) {
  encode_frame(out, FrameType::kOk, 0, id, [](ByteWriter&) {});
}
void encode_cancel(Bytes& out, std::uint32_t id) {
  encode_frame(out, FrameType::kCancel, 0, id, [](ByteWriter&) {});
}
void encode_next(Bytes& out, std::uint32_t id) {
  encode_frame(out, FrameType::kNext, 0, id, [](ByteWriter&) {});
}
void encode_put(Bytes& out, std::uint32_t id, const PutMsg& m) {
  encode_frame(out, FrameType::kPut, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.u64(m.size);
    w.u32(m.mode);
    w.i64(m.mtime_ns);
    w.u32(m.chunk_size);
    w.u32(m.put_flags);
    if (m.put_flags & kPutResumable) w.str(m.source_id);
  });
}
void encode_put_ready(Bytes& out, std::uint32_t id, const PutReadyMsg& m) {
  encode_frame(out, FrameType::kPutReady, 0, id, [&](ByteWriter& w) {
    w.u64(m.offset);
    if (m.prefix_hash) {
      auto c = m.prefix_hash->canonical();
      w.raw(ByteSpan(c.data(), c.size()));
    }
  });
}

std::string partial_file_name(const PutMsg& put) {
  Bytes key;
  ByteWriter w(key);
  w.str(put.path);
  w.u64(put.size);
  w.i64(put.mtime_ns);
  w.str(put.source_id);
  std::string name = ".ft-part-";
  name += hash128(key).hex();
  return name;
}
void encode_get(Bytes& out, std::uint32_t id, const GetMsg& m, std::uint8_t flags) {
  encode_frame(out, FrameType::kGet, flags, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.u64(m.offset);
  });
}
void encode_get_ready(Bytes& out, std::uint32_t id, const GetReadyMsg& m) {
  encode_frame(out, FrameType::kGetReady, 0, id, [&](ByteWriter& w) {
    w.u64(m.size);
    w.i64(m.mtime_ns);
    w.u32(m.mode);
    w.u32(m.chunk_size);
  });
}
void encode_list(Bytes& out, std::uint32_t id, const PathMsg& m, std::uint8_t flags) {
  encode_frame(out, FrameType::kList, flags, id, [&](ByteWriter& w) { w.str(m.path); });
}
void encode_mkdir(Bytes& out, std::uint32_t id, const MkdirMsg& m) {
  encode_frame(out, FrameType::kMkdir, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.u32(m.mode);
    w.i64(m.mtime_ns);
    w.u32(m.mkdir_flags);
  });
}
void encode_symlink(Bytes& out, std::uint32_t id, const SymlinkMsg& m) {
  encode_frame(out, FrameType::kSymlink, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.str(m.target);
    w.i64(m.mtime_ns);
  });
}
void encode_delete(Bytes& out, std::uint32_t id, const DeleteMsg& m) {
  encode_frame(out, FrameType::kDelete, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.u32(m.delete_flags);
  });
}
void encode_link(Bytes& out, std::uint32_t id, const LinkMsg& m) {
  encode_frame(out, FrameType::kLink, 0, id, [&](ByteWriter& w) {
    w.str(m.path);
    w.str(m.reference);
    w.u64(m.size);
    w.i64(m.mtime_ns);
    w.u32(m.mode);
    w.u32(m.link_flags);
    if ((m.link_flags & kLinkCheckHash) != 0) {
      auto c = m.content_hash.canonical();
      w.raw(ByteSpan(c.data(), c.size()));
    }
  });
}
void encode_stat(Bytes& out, std::uint32_t id, const PathMsg& m, std::uint8_t flags) {
  encode_frame(out, FrameType::kStat, flags, id, [&](ByteWriter& w) { w.str(m.path); });
}
void encode_end(Bytes& out, std::uint32_t id, const EndMsg& m) {
  encode_frame(out, FrameType::kEnd, 0, id, [&](ByteWriter& w) {
    w.u64(m.total_size);
    auto c = m.file_hash.canonical();
    w.raw(ByteSpan(c.data(), c.size()));
  });
}

void encode_data_head(std::uint8_t* out, std::uint32_t id, std::uint64_t offset,
                      std::uint64_t chunk_hash, std::uint32_t length, std::uint8_t flags) {
  encode_header_to(out, FrameHeader{FrameType::kData, flags, id,
                                    static_cast<std::uint32_t>(limits::kDataPrefixSize + length)});
  store_be64(out + limits::kFrameHeaderSize, offset);
  store_be64(out + limits::kFrameHeaderSize + 8, chunk_hash);
}

void encode_data(Bytes& out, std::uint32_t id, std::uint64_t offset, ByteSpan bytes) {
  std::size_t at = out.size();
  out.resize(at + kDataHeadSize);
  encode_data_head(out.data() + at, id, offset, hash64(bytes),
                   static_cast<std::uint32_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void encode_compressed_data(Bytes& out, std::uint32_t id, std::uint64_t offset,
                            std::uint64_t chunk_hash, ByteSpan zstd_frame) {
  std::size_t at = out.size();
  out.resize(at + kDataHeadSize);
  encode_data_head(out.data() + at, id, offset, chunk_hash,
                   static_cast<std::uint32_t>(zstd_frame.size()), kFlagCompressed);
  out.insert(out.end(), zstd_frame.begin(), zstd_frame.end());
}

std::size_t encode_entries_frame(Bytes& out, std::uint32_t id, const std::vector<Entry>& entries,
                                 std::size_t from, std::uint8_t fields, bool more_after,
                                 bool pause_after) {
  const bool hashes = (fields & kFlagHashes) != 0;
  const bool targets = (fields & kFlagTargets) != 0;
  const bool meta = (fields & kFlagMeta) != 0;
  auto entry_size = [&](const Entry& e) {
    return kEntryFixedSize + entry_name(e).size() + (hashes ? 16 : 0) +
           (targets ? 2 + entry_target(e).size() : 0) + (meta ? entry_meta_size(e.meta) : 0);
  };
  // Fill one frame with as many entries as fit under the payload limit.
  std::size_t budget = limits::kMaxControlPayload - 4;
  std::size_t end = from;
  while (end < entries.size()) {
    std::size_t need = entry_size(entries[end]);
    if (need > budget) break;
    budget -= need;
    ++end;
  }
  const bool more = end < entries.size() || more_after;
  const bool paused = pause_after && more_after && end == entries.size();
  const std::uint8_t flags =
      static_cast<std::uint8_t>((more ? kFlagMore : 0) | (paused ? kFlagPaced : 0) | fields);
  encode_frame(out, FrameType::kEntries, flags, id, [&](ByteWriter& w) {
    w.u32(static_cast<std::uint32_t>(end - from));
    for (std::size_t k = from; k < end; ++k) {
      const Entry& e = entries[k];
      w.str(entry_name(e));
      w.u8(static_cast<std::uint8_t>(e.type));
      w.u64(e.size);
      w.i64(e.mtime_ns);
      w.u32(e.mode);
      if (hashes) {
        auto c = e.content_hash.canonical();
        w.raw(ByteSpan(c.data(), c.size()));
      }
      if (targets) w.str(entry_target(e));
      if (meta) write_entry_meta(w, e.meta);
    }
  });
  return end;
}

void encode_entries(Bytes& out, std::uint32_t id, const std::vector<Entry>& entries,
                    std::uint8_t fields) {
  std::size_t i = 0;
  do {
    i = encode_entries_frame(out, id, entries, i, fields);
  } while (i < entries.size());
}

std::optional<ErrorMsg> decode_error(ByteSpan payload) {
  ByteReader r(payload);
  ErrorMsg m;
  m.code = r.u16();
  m.path = r.str();
  m.message = r.str();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) ||
      !string_ok(m.message, limits::kMaxControlPayload)) {
    return std::nullopt;
  }
  return m;
}

std::optional<PutMsg> decode_put(ByteSpan payload) {
  ByteReader r(payload);
  PutMsg m;
  m.path = r.str();
  m.size = r.u64();
  m.mode = r.u32();
  m.mtime_ns = r.i64();
  m.chunk_size = r.u32();
  m.put_flags = r.u32();
  if (m.put_flags & kPutResumable) {
    m.source_id = r.str();
    if (m.source_id.empty() || !string_ok(m.source_id, limits::kMaxSourceIdBytes)) {
      return std::nullopt;
    }
  }
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) || m.mode > 07777) {
    return std::nullopt;
  }
  return m;
}

std::optional<PutReadyMsg> decode_put_ready(ByteSpan payload, bool resume) {
  ByteReader r(payload);
  PutReadyMsg m;
  m.offset = r.u64();
  if (resume) {
    ByteSpan h = r.raw(16);
    if (r.ok()) m.prefix_hash = Hash128::from_canonical(h.data());
  }
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<DataView> decode_data(ByteSpan payload, std::uint8_t flags) {
  ByteReader r(payload);
  DataView d;
  d.compressed = (flags & kFlagCompressed) != 0;
  d.offset = r.u64();
  d.chunk_hash = r.u64();
  d.bytes = r.rest();
  if (!r.done() || d.bytes.empty()) return std::nullopt;
  return d;
}

std::optional<EndMsg> decode_end(ByteSpan payload) {
  ByteReader r(payload);
  EndMsg m;
  m.total_size = r.u64();
  ByteSpan h = r.raw(16);
  if (!r.done()) return std::nullopt;
  m.file_hash = Hash128::from_canonical(h.data());
  return m;
}

std::optional<GetMsg> decode_get(ByteSpan payload) {
  ByteReader r(payload);
  GetMsg m;
  m.path = r.str();
  m.offset = r.u64();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes)) return std::nullopt;
  return m;
}

std::optional<GetReadyMsg> decode_get_ready(ByteSpan payload) {
  ByteReader r(payload);
  GetReadyMsg m;
  m.size = r.u64();
  m.mtime_ns = r.i64();
  m.mode = r.u32();
  m.chunk_size = r.u32();
  if (!r.done() || m.mode > 07777 || m.chunk_size < limits::kMinChunkSize ||
      m.chunk_size > limits::kMaxChunkSize) {
    return std::nullopt;
  }
  return m;
}

std::optional<PathMsg> decode_path_msg(ByteSpan payload) {
  ByteReader r(payload);
  PathMsg m{r.str()};
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes)) return std::nullopt;
  return m;
}

std::optional<EntriesMsg> decode_entries(const Frame& frame) {
  ByteReader r(frame.payload);
  EntriesMsg m;
  m.more = (frame.header.flags & kFlagMore) != 0;
  m.paused = (frame.header.flags & kFlagPaced) != 0;
  if (m.paused && !m.more) return std::nullopt;  // a window ends only before more
  m.fields = frame.header.flags & (kFlagHashes | kFlagTargets | kFlagMeta);
  const bool hashes = (m.fields & kFlagHashes) != 0;
  const bool targets = (m.fields & kFlagTargets) != 0;
  const bool meta = (m.fields & kFlagMeta) != 0;
  std::uint32_t count = r.u32();
  // Each entry takes at least kEntryFixedSize bytes: a count the payload
  // cannot hold is refused before reserving anything.
  if (!r.ok() || count > r.remaining() / kEntryFixedSize) return std::nullopt;
  m.entries.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Entry e;
    e.name = r.str();
    std::uint8_t type = r.u8();
    e.size = r.u64();
    e.mtime_ns = r.i64();
    e.mode = r.u32();
    if (hashes) {
      ByteSpan h = r.raw(16);
      if (r.ok()) e.content_hash = Hash128::from_canonical(h.data());
    }
    if (targets) e.target = r.str();
    if (meta && !read_entry_meta(r, e.meta)) return std::nullopt;
    if (!r.ok() || type < 1 || type > 4 || !string_ok(e.name, limits::kMaxComponentBytes) ||
        e.mode > 07777 || !string_ok(e.target, limits::kMaxPathBytes)) {
      return std::nullopt;
    }
    e.type = static_cast<EntryType>(type);
    m.entries.push_back(std::move(e));
  }
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<MkdirMsg> decode_mkdir(ByteSpan payload) {
  ByteReader r(payload);
  MkdirMsg m;
  m.path = r.str();
  m.mode = r.u32();
  m.mtime_ns = r.i64();
  m.mkdir_flags = r.u32();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) || m.mode > 07777) {
    return std::nullopt;
  }
  return m;
}

void encode_signature(Bytes& out, std::uint32_t id, const delta::SignaturePart& m) {
  encode_frame(out, FrameType::kSignature, 0, id, [&](ByteWriter& w) {
    w.u64(m.basis_size);
    w.u32(m.block_size);
    w.u32(m.first_block);
    w.u32(static_cast<std::uint32_t>(m.blocks.size()));
    for (const delta::BlockSum& block : m.blocks) {
      w.u32(block.weak);
      w.u64(block.strong);
    }
  });
}
void encode_copy(Bytes& out, std::uint32_t id, const CopyMsg& m) {
  encode_frame(out, FrameType::kCopy, 0, id, [&](ByteWriter& w) {
    w.u64(m.offset);
    w.u64(m.basis_offset);
    w.u64(m.length);
  });
}

std::optional<delta::SignaturePart> decode_signature(ByteSpan payload) {
  ByteReader r(payload);
  delta::SignaturePart m;
  m.basis_size = r.u64();
  m.block_size = r.u32();
  m.first_block = r.u32();
  const std::uint32_t count = r.u32();
  // The count is checked against the payload before anything is allocated.
  if (payload.size() < delta::kSignatureHeadSize || count > delta::kBlocksPerFrame ||
      r.remaining() != std::size_t{count} * delta::kBlockSumSize) {
    return std::nullopt;
  }
  m.blocks.resize(count);
  for (delta::BlockSum& block : m.blocks) {
    block.weak = r.u32();
    block.strong = r.u64();
  }
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<CopyMsg> decode_copy(ByteSpan payload) {
  ByteReader r(payload);
  CopyMsg m;
  m.offset = r.u64();
  m.basis_offset = r.u64();
  m.length = r.u64();
  if (!r.done() || m.length == 0) return std::nullopt;
  return m;
}

std::optional<SymlinkMsg> decode_symlink(ByteSpan payload) {
  ByteReader r(payload);
  SymlinkMsg m;
  m.path = r.str();
  m.target = r.str();
  m.mtime_ns = r.i64();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) ||
      !string_ok(m.target, limits::kMaxPathBytes)) {
    return std::nullopt;
  }
  return m;
}

std::optional<DeleteMsg> decode_delete(ByteSpan payload) {
  ByteReader r(payload);
  DeleteMsg m;
  m.path = r.str();
  m.delete_flags = r.u32();
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes)) return std::nullopt;
  return m;
}

std::optional<LinkMsg> decode_link(ByteSpan payload) {
  ByteReader r(payload);
  LinkMsg m;
  m.path = r.str();
  m.reference = r.str();
  m.size = r.u64();
  m.mtime_ns = r.i64();
  m.mode = r.u32();
  m.link_flags = r.u32();
  if (r.ok() && (m.link_flags & kLinkCheckHash) != 0) {
    ByteSpan h = r.raw(16);
    if (r.ok()) m.content_hash = Hash128::from_canonical(h.data());
  }
  if (!r.done() || !string_ok(m.path, limits::kMaxPathBytes) ||
      !string_ok(m.reference, limits::kMaxPathBytes) || m.mode > 07777) {
    return std::nullopt;
  }
  return m;
}

}  // namespace ft
