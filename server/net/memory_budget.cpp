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
  std::erase_if(slot_waiters_, [waiter](const SlotWaiter& s) { return s.waiter == waiter; });
}

bool MemoryBudget::begin_listing_job(bool hashes) {
  if (!slot_free(hashes)) return false;
  ++listing_jobs_;
  if (hashes) ++hashing_jobs_;
  return true;
}

void MemoryBudget::end_listing_job(bool hashes) {
  --listing_jobs_;
  if (hashes) --hashing_jobs_;
  if (!slot_waiters_.empty()) hand_out_listing_slots();
}

void MemoryBudget::wait_for_listing_slot(Waiter* waiter, bool hashes) {
  auto found = std::find_if(slot_waiters_.begin(), slot_waiters_.end(),
                            [waiter](const SlotWaiter& s) { return s.waiter == waiter; });
  if (found == slot_waiters_.end()) {
    slot_waiters_.push_back(SlotWaiter{waiter, hashes});
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
    // One waiter at a time while slots are free: each takes what it can
    // use (begin_listing_job) before the next is asked. A waiter for a
    // hashing slot while those are taken keeps its place, and the ones
    // behind it that need only a listing slot go first. Each waiter is
    // asked once per pass: one that waits again goes to the back.
    std::size_t asked = slot_waiters_.size();
    std::size_t at = 0;
    while (listing_jobs_ < kMaxListingJobs && at < slot_waiters_.size() && asked > 0) {
      --asked;
      SlotWaiter next = slot_waiters_[at];
      if (!slot_free(next.hashes)) {
        ++at;
        continue;
      }
      slot_waiters_.erase(slot_waiters_.begin() + static_cast<std::ptrdiff_t>(at));
      next.waiter->listing_slot_freed();
    }
  });
}

}  // namespace ft::server
