#include "common/base/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace ft {
namespace {

// The bucket holds a tenth of a second of the rate (at least 16 KiB): small
// enough that the rate holds over any second, large enough that a writer
// is not woken for every few packets.
std::uint64_t burst_for(std::uint64_t rate) {
  return std::max<std::uint64_t>(rate / 10, 16 * 1024);
}

}  // namespace

TokenBucket::TokenBucket(std::uint64_t rate, Clock::time_point now)
    : rate_(std::max<std::uint64_t>(rate, 1)),
      burst_(burst_for(rate_)),
      tokens_(static_cast<double>(burst_)),
      last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(tokens_ + seconds * static_cast<double>(rate_), static_cast<double>(burst_));
  last_ = now;
}

bool TokenBucket::ready(Clock::time_point now) {
  refill(now);
  return tokens_ > 0;
}

void TokenBucket::take(std::uint64_t bytes, Clock::time_point now) {
  refill(now);
  tokens_ -= static_cast<double>(bytes);
}

std::chrono::milliseconds TokenBucket::wait(Clock::time_point now) {
  refill(now);
  if (tokens_ > 0) return std::chrono::milliseconds(0);
  // Until the debt is paid and one byte earned.
  const double seconds = (1.0 - tokens_) / static_cast<double>(rate_);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

}  // namespace ft
