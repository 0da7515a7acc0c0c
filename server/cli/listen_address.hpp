#pragma once
// ftserve --listen HOST:PORT: the host may be a name (localhost:7070,
// nas.lan:7070) as well as an address literal. It is resolved once, at
// startup, before the event loop runs.
#include <optional>
#include <string>

#include "common/rules/address.hpp"

namespace ft::server {

/// Parses `text` (parse_listen) and resolves its host to a numeric
/// address, the first getaddrinfo() gives for a passive socket. On failure
/// returns nullopt with `why` ("cannot resolve 'nas.lan': Name or service
/// not known"): a usage error.
std::optional<RemoteSpec> resolve_listen(const std::string& text, std::string& why);

}  // namespace ft::server
