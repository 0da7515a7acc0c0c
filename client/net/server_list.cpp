#include "client/net/server_list.hpp"

#include <algorithm>

namespace ft::client {
namespace {

struct ServerList {
  std::vector<Endpoint> servers;  // the first as given, then the alternates
  std::size_t next = 0;           // where the next connection starts
};

// A command names one server list per remote argument (a handful at most):
// process-wide, like the key of use_key().
std::vector<ServerList>& lists() {
  static std::vector<ServerList> all;
  return all;
}

ServerList* find(const Endpoint& first) {
  for (ServerList& list : lists()) {
    if (list.servers.front() == first) return &list;
  }
  return nullptr;
}

}  // namespace

void use_servers(const RemoteSpec& remote) {
  if (remote.alternates.empty()) return;
  const Endpoint first{remote.host, remote.port};
  if (find(first) != nullptr) return;
  ServerList list;
  list.servers.push_back(first);
  list.servers.insert(list.servers.end(), remote.alternates.begin(), remote.alternates.end());
  lists().push_back(std::move(list));
}

std::vector<Endpoint> servers_in_turn(const Endpoint& first) {
  const ServerList* list = find(first);
  if (list == nullptr) return {first};
  std::vector<Endpoint> order(list->servers.begin() + static_cast<std::ptrdiff_t>(list->next),
                              list->servers.end());
  order.insert(order.end(), list->servers.begin(),
               list->servers.begin() + static_cast<std::ptrdiff_t>(list->next));
  return order;
}

void server_failed(const Endpoint& first, const Endpoint& server) {
  ServerList* list = find(first);
  if (list == nullptr) return;
  auto at = std::find(list->servers.begin(), list->servers.end(), server);
  if (at == list->servers.end()) return;
  list->next = static_cast<std::size_t>(at - list->servers.begin() + 1) % list->servers.size();
}

}  // namespace ft::client
