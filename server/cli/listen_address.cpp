#include "server/cli/listen_address.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace ft::server {

std::optional<RemoteSpec> resolve_listen(const std::string& text, std::string& why) {
  auto spec = parse_listen(text, why);
  if (!spec) return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  // Blocking is fine here: the loop does not run yet.
  int rc = ::getaddrinfo(spec->host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    why = "cannot resolve '" + spec->host +
          "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(list, ::freeaddrinfo);
  char host[NI_MAXHOST];
  rc =
      ::getnameinfo(list->ai_addr, list->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
  if (rc != 0) {
    why = "cannot use the address of '" + spec->host + "': " + ::gai_strerror(rc);
    return std::nullopt;
  }
  spec->host = host;
  return spec;
}

}  // namespace ft::server
