#include "client/transfer/tree_walk.hpp"

#include <algorithm>
#include <cstdlib>

#include "common/rules/path_rules.hpp"

namespace ft::client {

std::size_t walk_window() {
  static const std::size_t window = [] {
    const char* text = std::getenv("FT_TEST_WALK_WINDOW");
    if (text == nullptr) return kWalkWindow;
    const long value = std::strtol(text, nullptr, 10);
    return value > 0 ? std::min(kWalkWindow, static_cast<std::size_t>(value)) : kWalkWindow;
  }();
  return window;
}

bool trees_ready(Session& session) {
  if (!session.hello_received()) return false;
  if (!session.trees_agreed()) {
    session.fail(ErrorCode::PROTOCOL, kNoTrees);
    return false;
  }
  return true;
}

std::optional<Error> TreeWork::attempt() {
  auto failure = attempt_(settled_, deferred_);
  if (!failure && deferred_.empty()) done_ = true;
  return failure;
}

std::vector<std::string> TreeWork::deferred() const {
  std::vector<std::string> out;
  for (const DeferredFile& file : deferred_) out.push_back(deferred_line(file.local, file.reason));
  return out;
}

void TreeWork::give_up(const std::optional<Error>& failure) {
  if (failure) report_.connection_failed(*failure);
  for (const DeferredFile& file : deferred_) report_.failed(file.local, file.reason);
  done_ = true;
}

}  // namespace ft::client
