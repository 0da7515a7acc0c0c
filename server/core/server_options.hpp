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
  // Bytes a connection may send before it has authenticated.
  std::size_t max_preauth_bytes = 16 * 1024;
};

/// What one authenticated connection may do.
struct Access {
  std::string identity;  // key name for the logs; "" in open mode
  std::uint32_t rights = kAllRights;
  int root_fd = -1;  // the identity's root (its sub-directory), owned by Server
  bool allows(std::uint32_t right) const { return (rights & right) == right; }
};

/// `rights` less what --read-only / --append-only take from everyone.
inline std::uint32_t effective_rights(std::uint32_t rights, const ServerOptions& options) {
  if (options.append_only) rights &= ~(kRightOverwrite | kRightDelete);
  if (options.read_only) rights &= kRightList | kRightRead;
  return rights;
}

}  // namespace ft::server
