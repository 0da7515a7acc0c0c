#include "server/net/bandwidth_pacer.hpp"

#include <algorithm>

namespace ft::server {

BandwidthPacer::Pair& BandwidthPacer::identity_pair(const std::string& identity,
                                                    Clock::time_point now) {
  auto it = identities_.find(identity);
  if (it == identities_.end()) {
    it = identities_.emplace(identity, Pair{}).first;
    it->second.in.emplace(identity_rate_, now);
    it->second.out.emplace(identity_rate_, now);
  }
  return it->second;
}

bool BandwidthPacer::ready(Direction direction, const std::string& identity,
                           Clock::time_point now) {
  if (server_rate_ != 0) {
    auto& bucket = server_.of(direction);
    if (!bucket) bucket.emplace(server_rate_, now);
    if (!bucket->ready(now)) return false;
  }
  if (identity_rate_ != 0 && !identity_pair(identity, now).of(direction)->ready(now)) return false;
  return true;
}

void BandwidthPacer::take(Direction direction, const std::string& identity, std::uint64_t bytes,
                          Clock::time_point now) {
  if (server_rate_ != 0) {
    auto& bucket = server_.of(direction);
    if (!bucket) bucket.emplace(server_rate_, now);
    bucket->take(bytes, now);
  }
  if (identity_rate_ != 0) identity_pair(identity, now).of(direction)->take(bytes, now);
}

std::chrono::milliseconds BandwidthPacer::wait(Direction direction, const std::string& identity,
                                               Clock::time_point now) {
  std::chrono::milliseconds longest{0};
  if (server_rate_ != 0 && server_.of(direction)) {
    longest = server_.of(direction)->wait(now);
  }
  if (identity_rate_ != 0) {
    longest = std::max(longest, identity_pair(identity, now).of(direction)->wait(now));
  }
  return longest;
}

}  // namespace ft::server
