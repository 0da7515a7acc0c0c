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
  std::erase(slot_waiters_, waiter);
}

bool MemoryBudget::begin_listing_job() {
  if (listing_jobs_ >= kMaxListingJobs) return false;
  ++listing_jobs_;
  return true;
}

void MemoryBudget::end_listing_job() {
  --listing_jobs_;
  if (!slot_waiters_.empty()) hand_out_listing_slots();
}

void MemoryBudget::wait_for_listing_slot(Waiter* waiter) {
  if (std::find(slot_waiters_.begin(), slot_waiters_.end(), waiter) == slot_waiters_.end()) {
    slot_waiters_.push_back(waiter);
  }
  if (listing_jobs_ < kMaxListingJobs) hand_out_listing_slots();
}

void MemoryBudget::hand_out_listing_slots() {
  if (slots_scheduled_) return;
  slots_scheduled_ = true;
  defer_([this] {
    slots_scheduled_ = false;
    // One waiter at a time while slots are free: each takes what it can
    // use (begin_listing_job) before the next is asked.
    while (listing_jobs_ < kMaxListingJobs && !slot_waiters_.empty()) {
      Waiter* waiter = slot_waiters_.front();
      slot_waiters_.pop_front();
      waiter->listing_slot_freed();
    }
  });
}

}  // namespace ft::server
