#pragma once
// ftserve's settings beyond --root/--listen: security mode and the limits
// that keep a hostile LAN from exhausting the daemon (docs/server.md).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/crypto/tls_engine.hpp"
#include "common/rules/address_range.hpp"

namespace ft::server {

struct ServerOptions {
  // Security. Without keys (tls == nullptr) the server runs open: one
  // implicit identity with every right, minus --read-only/--append-only.
  std::vector<KeyEntry> keys;
  std::shared_ptr<TlsContext> tls;
  bool read_only = false;    // everyone: list + read only
  bool append_only = false;  // everyone: no overwrite, no delete

  // Limits.
  std::size_t max_connections = 1000;
  std::size_t max_unauthenticated_per_address = 32;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};  // no bytes either way
  std::uint64_t max_file_size = 0;                 // 0: no limit
  std::uint64_t free_space_reserve = 64ull << 20;  // refuse uploads below
  std::size_t max_uploads_per_identity = 4096;     // open uploads, all sessions
  std::size_t max_partials_per_identity = 100;     // resumable uploads' partial files
  // Bytes a connection may send before it has authenticated.
  std::size_t max_preauth_bytes = 16 * 1024;
  // Taken from every mode a peer sends (PUT, MKDIR); the owner keeps rwx on
  // directories whatever it says. ftserve makes it the process umask.
  std::uint32_t umask = 022;
  // --bwlimit and --bwlimit-per-identity: bytes per second in each
  // direction, for all connections together and for each identity's (0: no
  // limit; docs/server.md "Bandwidth").
  std::uint64_t bwlimit = 0;
  std::uint64_t bwlimit_per_identity = 0;
  // COMPRESS (docs/protocol.md 5.15): answered unless --no-compress;
  // downloads are compressed at this zstd level (--compress-level) on the
  // thread pool, one context per pool thread at most.
  bool compress = true;
  int compress_level = 1;
  // Open mode: clients may set owners and groups (ATTRS) when ftserve runs
  // as root (--owners); keyed identities need the `owner` right instead.
  bool owners = false;

  // Behind a load balancer (docs/scale-out.md).
  // Peers that must open with a PROXY protocol header naming the client
  // they connect for (--proxy-protocol); empty: none may.
  std::vector<AddressRange> proxy_from;
  // SIGTERM: how long requests in flight may take to finish before they
  // are cut (--drain-timeout; 0: cut at once, as SIGINT does). systemd's
  // default stop timeout.
  std::chrono::milliseconds drain_timeout{90'000};
};

/// What one authenticated connection may do.
struct Access {
  std::string identity;  // key name for the logs; "" in open mode
  std::uint32_t rights = kAllRights;
  int root_fd = -1;  // the identity's root (its sub-directory), owned by Server
  // Other identities' sub-directories inside this root (relative to it):
  // never created, replaced or written beneath by this identity.
  std::vector<std::string> reserved;
  // The identity's quotas (0: none) and the tree they count: its
  // sub-directory (docs/server.md "Quotas").
  std::string quota_tree;
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  bool allows(std::uint32_t right) const { return (rights & right) == right; }
};

/// Where `path` (relative to the identity's root, already valid) stands
/// against the identity's reserved names.
enum class ReservedPlace {
  kElsewhere,      // no reserved name on or below it
  kAboveReserved,  // a directory on the way to a reserved name
  kReserved,       // a reserved name itself
  kBelowReserved,  // inside another identity's tree
};

inline ReservedPlace reserved_place(const Access& access, const std::string& path) {
  ReservedPlace place = ReservedPlace::kElsewhere;
  for (const std::string& reserved : access.reserved) {
    if (path == reserved) return ReservedPlace::kReserved;
    auto below = [](const std::string& inner, const std::string& outer) {
      return outer.empty() ||
             (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
              inner[outer.size()] == '/');
    };
    if (below(path, reserved)) return ReservedPlace::kBelowReserved;
    if (below(reserved, path)) place = ReservedPlace::kAboveReserved;
  }
  return place;
}

/// `rights` less what --read-only / --append-only take from everyone.
inline std::uint32_t effective_rights(std::uint32_t rights, const ServerOptions& options) {
  if (options.append_only) rights &= ~(kRightOverwrite | kRightDelete);
  if (options.read_only) rights &= kRightList | kRightRead;
  return rights;
}

}  // namespace ft::server
