#pragma once
// The messages of the ARCHIVE and SPARSE capabilities (docs/protocol.md,
// section 5.9): what a faithful copy of a tree needs beyond files, links
// and directories. The metadata an ENTRIES entry carries with the META
// flag, HARDLINK, ATTRS and HOLE.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/base/limits.hpp"
#include "common/os/file_attrs.hpp"

namespace ft {

/// What an entry carries with META: owner and group by number and name
/// (empty when the number has no name), a hard-link key (non-zero for a
/// regular file with more than one link; equal keys name the same file
/// within one listing session) and the extended attributes.
struct EntryMeta {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::string group;
  std::uint64_t link_key = 0;
  std::vector<Xattr> xattrs;
  friend bool operator==(const EntryMeta&, const EntryMeta&) = default;
};

/// HARDLINK (0x1C): makes `path` another name of the regular file `existing`.
struct HardlinkMsg {
  std::string path;
  std::string existing;
};

/// ATTRS fields: which parts of the message apply.
inline constexpr std::uint32_t kAttrsMode = 0x1;    // all of mode's 07777 bits
inline constexpr std::uint32_t kAttrsOwner = 0x2;   // uid / user
inline constexpr std::uint32_t kAttrsGroup = 0x4;   // gid / group
inline constexpr std::uint32_t kAttrsXattrs = 0x8;  // the attributes but ACLs, as a whole set
inline constexpr std::uint32_t kAttrsAcls = 0x10;   // system.posix_acl_access / _default
inline constexpr std::uint32_t kAttrsKnown =
    kAttrsMode | kAttrsOwner | kAttrsGroup | kAttrsXattrs | kAttrsAcls;

/// ATTRS (0x1D): sets metadata of `path` itself (never through a link).
struct AttrsMsg {
  std::string path;
  std::uint32_t fields = 0;
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::string group;
  std::vector<Xattr> xattrs;
};

/// HOLE (0x1E): `length` bytes of zeros at `offset` in a PUT's or GET's
/// data, sent instead of DATA and left unwritten by the receiver.
struct HoleMsg {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// Bytes the attributes take encoded (u16 count, then per attribute a str
/// name and a u16-length value); at most limits::kMaxXattrBlockBytes.
std::size_t xattr_block_size(const std::vector<Xattr>& xattrs);

/// Appends / reads the META block of one entry.
void write_entry_meta(ByteWriter& w, const EntryMeta& meta);
bool read_entry_meta(ByteReader& r, EntryMeta& meta);
/// Encoded size of the META block.
std::size_t entry_meta_size(const EntryMeta& meta);

void encode_hardlink(Bytes& out, std::uint32_t id, const HardlinkMsg& m);
void encode_attrs(Bytes& out, std::uint32_t id, const AttrsMsg& m);
void encode_hole(Bytes& out, std::uint32_t id, const HoleMsg& m);
/// nullopt when malformed (a string over its limit or holding NUL where
/// none may be, attributes over their limit, unknown fields, mode above
/// 07777, a hole of no bytes or past 2^63).
std::optional<HardlinkMsg> decode_hardlink(ByteSpan payload);
std::optional<AttrsMsg> decode_attrs(ByteSpan payload);
std::optional<HoleMsg> decode_hole(ByteSpan payload);

}  // namespace ft
