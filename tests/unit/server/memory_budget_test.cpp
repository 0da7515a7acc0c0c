// The server-wide listing slots of MemoryBudget (server/net/memory_budget.hpp):
// listings that hash file contents take one of a few hashing slots too, so
// that they never hold every pool thread (docs/server.md, "Fairness"), and a
// listing that waits for a hashing slot lets plain listings behind it go.
#include "server/net/memory_budget.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace ft::test {
namespace {

using server::MemoryBudget;

/// A budget whose deferred tasks run when the test says (run_deferred).
struct Deferred {
  std::vector<std::function<void()>> tasks;
  void run() {
    std::vector<std::function<void()>> now;
    now.swap(tasks);
    for (auto& task : now) task();
  }
};

/// A connection waiting for a listing slot: takes one when told, if it can.
struct SlotTaker : MemoryBudget::Waiter {
  SlotTaker(MemoryBudget& budget, bool hashes) : budget(budget), hashes(hashes) {}
  void budget_freed() override {}
  void listing_slot_freed() override {
    if (budget.begin_listing_job(hashes)) {
      ++started;
    } else {
      budget.wait_for_listing_slot(this, hashes);
    }
  }
  MemoryBudget& budget;
  bool hashes;
  int started = 0;
};

TEST(MemoryBudgetSlots, HashingCapIsAQuarterOfThePoolAndHalfTheCpusBetweenOneAndTwo) {
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(1, 16), 1u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(4, 16), 1u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(8, 16), 2u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(8, 2), 1u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(8, 1), 1u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(8, 4), 2u);
  EXPECT_EQ(MemoryBudget::hashing_jobs_for(128, 64), MemoryBudget::kMaxHashingJobs);
}

TEST(MemoryBudgetSlots, HashingListingsLeaveTheOtherSlotsFree) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  for (std::size_t i = 0; i < MemoryBudget::kMaxHashingJobs; ++i) {
    EXPECT_TRUE(budget.begin_listing_job(true));
  }
  EXPECT_FALSE(budget.begin_listing_job(true));
  for (std::size_t i = MemoryBudget::kMaxHashingJobs; i < MemoryBudget::kMaxListingJobs; ++i) {
    EXPECT_TRUE(budget.begin_listing_job(false));
  }
  EXPECT_FALSE(budget.begin_listing_job(false));
}

TEST(MemoryBudgetSlots, AWaiterForHashingKeepsItsPlaceWhilePlainListingsPass) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  for (std::size_t i = 0; i < MemoryBudget::kMaxHashingJobs; ++i) {
    ASSERT_TRUE(budget.begin_listing_job(true));
  }
  for (std::size_t i = MemoryBudget::kMaxHashingJobs; i < MemoryBudget::kMaxListingJobs; ++i) {
    ASSERT_TRUE(budget.begin_listing_job(false));
  }
  SlotTaker hashing(budget, true);
  SlotTaker plain(budget, false);
  budget.wait_for_listing_slot(&hashing, true);
  budget.wait_for_listing_slot(&plain, false);

  // A plain slot frees: the hashing waiter cannot use it, the plain one can.
  budget.end_listing_job(false);
  deferred.run();
  EXPECT_EQ(hashing.started, 0);
  EXPECT_EQ(plain.started, 1);
  EXPECT_TRUE(deferred.tasks.empty()) << "nobody spins while the hashing slots are taken";

  // A hashing slot frees: the hashing waiter, still first in line, takes it.
  budget.end_listing_job(true);
  deferred.run();
  EXPECT_EQ(hashing.started, 1);
  budget.forget(&hashing);
  budget.forget(&plain);
}

}  // namespace
}  // namespace ft::test
