#include "server/net/memory_budget.hpp"

#include <algorithm>
#include <vector>

namespace ft::server {

MemoryBudget::MemoryBudget(std::size_t limit, std::function<void(std::function<void()>)> defer)
    : limit_(limit), low_mark_(limit - limit / 8), defer_(std::move(defer)) {}

void MemoryBudget::update(std::size_t& held, std::size_t now) {
  used_ = used_ - held + now;
  held = now;
  if (used_ > peak_) peak_ = used_;
  if (!waiters_.empty()) wake_if_drained();
}

void MemoryBudget::wait(Waiter* waiter) {
  waiters_.insert(waiter);
  wake_if_drained();
}

void MemoryBudget::wake_if_drained() {
  // Waking at the low mark rather than the limit: a waiter that resumes
  // holds more at once, instead of thousands of them taking turns for each
  // chunk freed.
  if (wake_scheduled_ || used_ > low_mark_) return;
  wake_scheduled_ = true;
  defer_([this] {
    wake_scheduled_ = false;
    // Taken now, not when the task was scheduled: a waiter that went away
    // meanwhile was forgotten. Waking one never frees another.
    std::vector<Waiter*> woken(waiters_.begin(), waiters_.end());
    waiters_.clear();
    for (Waiter* waiter : woken) waiter->budget_freed();
  });
}

void MemoryBudget::forget(Waiter* waiter) {
  waiters_.erase(waiter);
  for (auto owner = owner_turns_.begin(); owner != owner_turns_.end();) {
    std::deque<SlotWaiter>& line = slot_waiters_[*owner];
    std::erase_if(line, [waiter](const SlotWaiter& s) { return s.waiter == waiter; });
    if (line.empty()) {
      slot_waiters_.erase(*owner);
      owner = owner_turns_.erase(owner);
    } else {
      ++owner;
    }
  }
  decline(waiter);
}

void MemoryBudget::decline(Waiter* waiter) {
  // A slot granted to it and never taken goes to the next in turn.
  if (auto granted = granted_.find(waiter); granted != granted_.end()) {
    const bool hashes = granted->second;
    granted_.erase(granted);
    end_listing_job(hashes);
  }
}

void MemoryBudget::take(bool hashes) {
  ++listing_jobs_;
  if (hashes) ++hashing_jobs_;
}

bool MemoryBudget::promised() const {
  for (const auto& [owner, line] : slot_waiters_) {
    for (const SlotWaiter& next : line) {
      if (slot_free(next.hashes)) return true;
    }
  }
  return false;
}

bool MemoryBudget::begin_listing_job(Waiter* waiter, bool hashes) {
  if (auto granted = granted_.find(waiter); waiter != nullptr && granted != granted_.end()) {
    const bool kind = granted->second;
    granted_.erase(granted);
    if (kind == hashes) return true;
    end_listing_job(kind);  // granted for what it no longer needs first
  }
  if (!slot_free(hashes) || promised()) return false;
  take(hashes);
  return true;
}

void MemoryBudget::end_listing_job(bool hashes) {
  --listing_jobs_;
  if (hashes) --hashing_jobs_;
  if (!owner_turns_.empty()) hand_out_listing_slots();
}

void MemoryBudget::wait_for_listing_slot(Waiter* waiter, bool hashes, const std::string& owner) {
  if (granted_.contains(waiter)) return;  // told already, on its way
  std::deque<SlotWaiter>& line = slot_waiters_[owner];
  auto found = std::find_if(line.begin(), line.end(),
                            [waiter](const SlotWaiter& s) { return s.waiter == waiter; });
  if (found == line.end()) {
    if (line.empty()) owner_turns_.push_back(owner);
    line.push_back(SlotWaiter{waiter, hashes});
  } else {
    found->hashes = hashes;  // keeps its place in the line
  }
  if (slot_free(hashes)) hand_out_listing_slots();
}

void MemoryBudget::hand_out_listing_slots() {
  if (slots_scheduled_) return;
  slots_scheduled_ = true;
  defer_([this] {
    slots_scheduled_ = false;
    // While slots are free: the first owner in turn with a waiter that can
    // use one gets it for that waiter (taken now, so no newcomer can take
    // it first), and goes to the back of the turns; the waiter goes to the
    // back of its owner's line if it waits again. A waiter for a hashing
    // slot while those are taken keeps its place, and the ones that need
    // only a listing slot go first.
    std::vector<Waiter*> told;
    bool served = true;
    while (served && listing_jobs_ < kMaxListingJobs) {
      served = false;
      for (std::size_t turn = 0; turn < owner_turns_.size() && !served; ++turn) {
        const std::string owner = owner_turns_[turn];
        std::deque<SlotWaiter>& line = slot_waiters_[owner];
        auto next = std::find_if(line.begin(), line.end(),
                                 [this](const SlotWaiter& s) { return slot_free(s.hashes); });
        if (next == line.end()) continue;
        const SlotWaiter chosen = *next;
        line.erase(next);
        owner_turns_.erase(owner_turns_.begin() + static_cast<std::ptrdiff_t>(turn));
        if (line.empty()) {
          slot_waiters_.erase(owner);
        } else {
          owner_turns_.push_back(owner);
        }
        take(chosen.hashes);
        granted_[chosen.waiter] = chosen.hashes;
        told.push_back(chosen.waiter);
        served = true;
      }
    }
    for (Waiter* waiter : told) {
      // Forgotten meanwhile by an earlier one's call (a connection closing).
      if (granted_.contains(waiter)) waiter->listing_slot_freed();
    }
  });
}

}  // namespace ft::server
