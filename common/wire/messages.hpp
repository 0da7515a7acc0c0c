#pragma once
// The messages of protocol v1 (docs/protocol.md, sections 4 and 5): one
// struct per payload, an encoder that appends a whole frame to a
// caller-owned buffer, and a strict decoder from a frame's payload.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "common/delta/block_signature.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/archive_messages.hpp"
#include "common/wire/frame.hpp"

namespace ft {

struct ErrorMsg {
  std::uint16_t code = 0;
  std::string path;
  std::string message;
};
struct PutMsg {
  std::string path;
  std::uint64_t size = 0;
  std::uint32_t mode = 0644;
  std::int64_t mtime_ns = 0;
  std::uint32_t chunk_size = limits::kDefaultChunkSize;
  std::uint32_t put_flags = 0;
  std::string source_id;  // only with put_flags & kPutResumable
};
struct PutReadyMsg {
  std::uint64_t offset = 0;
  std::optional<Hash128> prefix_hash;  // present when RESUME was agreed
};
/// A DATA payload; `bytes` points into the frame's payload. With
/// `compressed` (flag kFlagCompressed, section 5.15) `bytes` is one zstd
/// frame and `chunk_hash` the XXH3-64 of what it decompresses to.
struct DataView {
  std::uint64_t offset = 0;
  std::uint64_t chunk_hash = 0;
  ByteSpan bytes;
  bool compressed = false;
};
struct EndMsg {
  std::uint64_t total_size = 0;
  Hash128 file_hash;
};
struct GetMsg {
  std::string path;
  std::uint64_t offset = 0;
};
struct GetReadyMsg {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0;
  std::uint32_t chunk_size = 0;
};
struct PathMsg {  // LIST and STAT
  std::string path;
};

enum class EntryType : std::uint8_t { kFile = 1, kDirectory = 2, kSymlink = 3, kOther = 4 };

struct Entry {
  std::string name;
  EntryType type = EntryType::kFile;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0;
  Hash128 content_hash{};  // with HASHES: a regular file's XXH3-128, else zero
  std::string target;      // with TARGETS: a symlink's target, else empty
  EntryMeta meta;          // with META (ARCHIVE): owners, hard-link key, attributes
  friend bool operator==(const Entry&, const Entry&) = default;
};
struct EntriesMsg {
  bool more = false;
  std::uint8_t fields = 0;  // kFlagHashes | kFlagTargets | kFlagMeta: which extras are present
  bool paused = false;      // PACED: a window ends here; the rest comes after NEXT
  std::vector<Entry> entries;
};
struct MkdirMsg {
  std::string path;
  std::uint32_t mode = 0755;
  std::int64_t mtime_ns = 0;
  std::uint32_t mkdir_flags = 0;
};
/// COPY (section 5.12): bytes [offset, offset + length) of the file being
/// sent are the basis's bytes from basis_offset on.
struct CopyMsg {
  std::uint64_t offset = 0;
  std::uint64_t basis_offset = 0;
  std::uint64_t length = 0;
  friend bool operator==(const CopyMsg&, const CopyMsg&) = default;
};
struct SymlinkMsg {
  std::string path;
  std::string target;
  std::int64_t mtime_ns = 0;
};

/// DELETE (section 5.7): remove the file, link or empty directory `path`.
struct DeleteMsg {
  std::string path;
  std::uint32_t delete_flags = 0;  // none defined yet: must be zero
};

/// LINK (section 5.8): make `path` a hard link to the regular file
/// `reference` if that still has `size`, `mtime_ns` and `mode` (and, with
/// kLinkCheckHash, `content_hash`).
struct LinkMsg {
  std::string path;
  std::string reference;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0644;
  std::uint32_t link_flags = 0;
  Hash128 content_hash{};  // only with kLinkCheckHash
};

// Encoders: each appends one complete frame (header and payload) to `out`.
void encode_error(Bytes& out, std::uint32_t id, const ErrorMsg& m);
void encode_ok(Bytes& out, std::uint32_t id);
void encode_cancel(Bytes& out, std::uint32_t id);
/// NEXT (PACED, section 5.17): the next window of the paced LIST `id`.
void encode_next(Bytes& out, std::uint32_t id);
void encode_put(Bytes& out, std::uint32_t id, const PutMsg& m);
void encode_put_ready(Bytes& out, std::uint32_t id, const PutReadyMsg& m);
/// The name of the partial-data file of a resumable upload (section 5.4):
/// ".ft-part-" and 32 hex digits of XXH3-128(path, size, mtime, source_id).
std::string partial_file_name(const PutMsg& put);
/// `flags`: kFlagDelta (DELTA_GET, section 5.16) or 0.
void encode_get(Bytes& out, std::uint32_t id, const GetMsg& m, std::uint8_t flags = 0);
void encode_get_ready(Bytes& out, std::uint32_t id, const GetReadyMsg& m);
/// `flags`: kFlagHashes and/or kFlagTargets (TREES only).
void encode_list(Bytes& out, std::uint32_t id, const PathMsg& m, std::uint8_t flags = 0);
void encode_mkdir(Bytes& out, std::uint32_t id, const MkdirMsg& m);
void encode_symlink(Bytes& out, std::uint32_t id, const SymlinkMsg& m);
void encode_delete(Bytes& out, std::uint32_t id, const DeleteMsg& m);
void encode_link(Bytes& out, std::uint32_t id, const LinkMsg& m);
/// `flags`: kFlagMeta (ARCHIVE) only.
void encode_stat(Bytes& out, std::uint32_t id, const PathMsg& m, std::uint8_t flags = 0);
void encode_end(Bytes& out, std::uint32_t id, const EndMsg& m);
void encode_data(Bytes& out, std::uint32_t id, std::uint64_t offset, ByteSpan bytes);
/// Writes the 28 bytes (header and offset/hash prefix) that precede a
/// DATA frame's bytes, so the bytes can be sent from where they lie.
inline constexpr std::size_t kDataHeadSize = limits::kFrameHeaderSize + limits::kDataPrefixSize;
/// `flags`: kFlagCompressed when the `length` bytes that follow are a zstd
/// frame of the chunk whose hash is `chunk_hash` (COMPRESS, section 5.15).
void encode_data_head(std::uint8_t* out, std::uint32_t id, std::uint64_t offset,
                      std::uint64_t chunk_hash, std::uint32_t length, std::uint8_t flags = 0);
/// Appends a compressed DATA frame: `zstd_frame` holds the chunk whose
/// XXH3-64 is `chunk_hash` (section 5.15).
void encode_compressed_data(Bytes& out, std::uint32_t id, std::uint64_t offset,
                            std::uint64_t chunk_hash, ByteSpan zstd_frame);
/// SIGNATURE (section 5.12): one part of a basis's signature.
void encode_signature(Bytes& out, std::uint32_t id, const delta::SignaturePart& m);
void encode_copy(Bytes& out, std::uint32_t id, const CopyMsg& m);
/// Appends the entries as one or more ENTRIES frames within the payload
/// limit, every frame but the last flagged MORE. `fields` (kFlagHashes,
/// kFlagTargets) adds the optional per-entry fields and flags every frame.
void encode_entries(Bytes& out, std::uint32_t id, const std::vector<Entry>& entries,
                    std::uint8_t fields = 0);
/// Appends one ENTRIES frame holding the entries from `from` on that fit in
/// a frame (MORE set if some are left, or if `more_after`: more entries
/// follow these in a later call); returns the index of the first one left
/// out (entries.size() when all of `entries` went out). `pause_after`
/// (PACED): the frame that ends `entries` while more follow is flagged
/// PACED: the rest comes after the client's NEXT.
std::size_t encode_entries_frame(Bytes& out, std::uint32_t id, const std::vector<Entry>& entries,
                                 std::size_t from, std::uint8_t fields = 0, bool more_after = false,
                                 bool pause_after = false);

// Decoders: nullopt when the payload is malformed (wrong length, string over
// its limit or holding NUL, a field out of range).
std::optional<ErrorMsg> decode_error(ByteSpan payload);
std::optional<PutMsg> decode_put(ByteSpan payload);
/// `resume`: whether RESUME was agreed, which adds the prefix hash.
std::optional<PutReadyMsg> decode_put_ready(ByteSpan payload, bool resume);
/// `flags`: the frame header's; kFlagCompressed marks the bytes as a zstd
/// frame (whether COMPRESS was agreed is the receiver's check).
std::optional<DataView> decode_data(ByteSpan payload, std::uint8_t flags = 0);
std::optional<EndMsg> decode_end(ByteSpan payload);
std::optional<GetMsg> decode_get(ByteSpan payload);
std::optional<GetReadyMsg> decode_get_ready(ByteSpan payload);
std::optional<PathMsg> decode_path_msg(ByteSpan payload);
std::optional<EntriesMsg> decode_entries(const Frame& frame);
std::optional<MkdirMsg> decode_mkdir(ByteSpan payload);
std::optional<SymlinkMsg> decode_symlink(ByteSpan payload);
std::optional<DeleteMsg> decode_delete(ByteSpan payload);
std::optional<LinkMsg> decode_link(ByteSpan payload);
/// At most delta::kBlocksPerFrame blocks, the count matching the payload.
std::optional<delta::SignaturePart> decode_signature(ByteSpan payload);
std::optional<CopyMsg> decode_copy(ByteSpan payload);

}  // namespace ft
