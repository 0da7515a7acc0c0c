#pragma once
// Several servers of one shared root (HOST1,HOST2:PORT/PATH, or a profile's
// `host = HOST1, HOST2:PORT`), for sites without a load balancer
// (docs/scale-out.md): connect_and_run() goes to the server that last
// worked, moves on to the next at once when one cannot be reached, and
// after a session lost on one (a node killed, draining, full) starts the
// retry loop's next attempt at the next. The resume rules are the retry
// loop's (client/transfer/retry.hpp): partial files live on the shared
// root, so any server resumes what another verified.
#include <cstddef>
#include <vector>

#include "common/rules/address.hpp"

namespace ft::client {

/// Makes later connect_and_run() calls for `remote`'s first server fail
/// over to its alternates. Nothing for a single server.
void use_servers(const RemoteSpec& remote);

/// The servers to try for a connection to `first`, in order: the one that
/// last worked (or the next after the last that failed) first. `first`
/// alone when no list was given for it.
std::vector<Endpoint> servers_in_turn(const Endpoint& first);

/// `server` (from servers_in_turn(first)) failed: the next try starts at
/// the one after it.
void server_failed(const Endpoint& first, const Endpoint& server);

}  // namespace ft::client
