// The server-wide listing slots of MemoryBudget (server/net/memory_budget.hpp):
// listings that hash file contents take one of a few hashing slots too, so
// that they never hold every pool thread (docs/server.md, "Fairness"), and a
// listing that waits for a hashing slot lets plain listings behind it go.
#include "server/net/memory_budget.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
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

/// A connection waiting for a listing slot: takes one when told, if it can,
/// and notes its name in `order`.
struct SlotTaker final : MemoryBudget::Waiter {
  SlotTaker(MemoryBudget& budget, bool hashes, std::string owner = {}, std::string name = {},
            std::vector<std::string>* order = nullptr)
      : budget(budget),
        hashes(hashes),
        owner(std::move(owner)),
        name(std::move(name)),
        order(order) {}
  void budget_freed() override {}
  void listing_slot_freed() override {
    if (budget.begin_listing_job(this, hashes)) {
      ++started;
      if (order != nullptr) order->push_back(name);
    } else {
      budget.wait_for_listing_slot(this, hashes, owner);
    }
  }
  void wait() { budget.wait_for_listing_slot(this, hashes, owner); }
  MemoryBudget& budget;
  bool hashes;
  std::string owner;
  std::string name;
  std::vector<std::string>* order;
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
    EXPECT_TRUE(budget.begin_listing_job(nullptr, true));
  }
  EXPECT_FALSE(budget.begin_listing_job(nullptr, true));
  for (std::size_t i = MemoryBudget::kMaxHashingJobs; i < MemoryBudget::kMaxListingJobs; ++i) {
    EXPECT_TRUE(budget.begin_listing_job(nullptr, false));
  }
  EXPECT_FALSE(budget.begin_listing_job(nullptr, false));
}

TEST(MemoryBudgetSlots, AWaiterForHashingKeepsItsPlaceWhilePlainListingsPass) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  for (std::size_t i = 0; i < MemoryBudget::kMaxHashingJobs; ++i) {
    ASSERT_TRUE(budget.begin_listing_job(nullptr, true));
  }
  for (std::size_t i = MemoryBudget::kMaxHashingJobs; i < MemoryBudget::kMaxListingJobs; ++i) {
    ASSERT_TRUE(budget.begin_listing_job(nullptr, false));
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

// One hashing slot; identity "a" has five connections waiting, "b" one:
// the slot goes to a, then b, then a's others, not to all of a's first.
TEST(MemoryBudgetSlots, HashingSlotsGoToIdentitiesInTurn) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  budget.set_max_hashing_jobs(1);
  ASSERT_TRUE(budget.begin_listing_job(nullptr, true));
  std::vector<std::string> order;
  std::vector<std::unique_ptr<SlotTaker>> takers;
  for (int i = 1; i <= 5; ++i) {
    takers.push_back(
        std::make_unique<SlotTaker>(budget, true, "a", "a" + std::to_string(i), &order));
  }
  takers.push_back(std::make_unique<SlotTaker>(budget, true, "b", "b1", &order));
  for (auto& taker : takers) taker->wait();
  for (int round = 0; round < 6; ++round) {
    budget.end_listing_job(true);
    deferred.run();
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a1", "b1", "a2", "a3", "a4", "a5"}));
  budget.end_listing_job(true);
  for (auto& taker : takers) budget.forget(taker.get());
}

// Within one identity its connections take turns: one that is served and
// waits again goes behind its other connections.
TEST(MemoryBudgetSlots, AnIdentitysConnectionsTakeTurns) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  budget.set_max_hashing_jobs(1);
  ASSERT_TRUE(budget.begin_listing_job(nullptr, true));
  std::vector<std::string> order;
  SlotTaker first(budget, true, "a", "first", &order);
  SlotTaker second(budget, true, "a", "second", &order);
  first.wait();
  second.wait();
  budget.end_listing_job(true);
  deferred.run();
  first.wait();  // it wants another one at once
  budget.end_listing_job(true);
  deferred.run();
  budget.end_listing_job(true);
  deferred.run();
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "first"}));
  budget.end_listing_job(true);
  budget.forget(&first);
  budget.forget(&second);
}

// A slot freed while others wait in line is theirs: a newcomer asking
// before the hand-out runs does not get it.
TEST(MemoryBudgetSlots, ANewcomerDoesNotTakeASlotPromisedToAWaiter) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  budget.set_max_hashing_jobs(1);
  ASSERT_TRUE(budget.begin_listing_job(nullptr, true));
  SlotTaker waiting(budget, true, "b");
  waiting.wait();
  budget.end_listing_job(true);
  EXPECT_FALSE(budget.begin_listing_job(nullptr, true));
  deferred.run();
  EXPECT_EQ(waiting.started, 1);
  budget.end_listing_job(true);
  budget.forget(&waiting);
}

// A connection that closes with a slot granted and not taken gives it to
// the next in line.
TEST(MemoryBudgetSlots, AGrantedSlotOfAClosedConnectionGoesToTheNext) {
  Deferred deferred;
  MemoryBudget budget(1 << 20, [&](std::function<void()> task) { deferred.tasks.push_back(task); });
  budget.set_max_hashing_jobs(1);
  ASSERT_TRUE(budget.begin_listing_job(nullptr, true));
  struct Closing : MemoryBudget::Waiter {
    void budget_freed() override {}
    void listing_slot_freed() override { ++told; }
    int told = 0;
  } closing;
  SlotTaker next(budget, true, "b");
  budget.wait_for_listing_slot(&closing, true, "a");
  next.wait();
  budget.end_listing_job(true);
  deferred.run();
  EXPECT_EQ(closing.told, 1);
  budget.forget(&closing);
  deferred.run();
  EXPECT_EQ(next.started, 1);
  budget.end_listing_job(true);
  budget.forget(&next);
}

}  // namespace
}  // namespace ft::test
