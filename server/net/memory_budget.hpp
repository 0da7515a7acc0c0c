#pragma once
// The server-wide budget for the memory connections hold on behalf of
// their peers: received data waiting for the disk, replies and download
// chunks waiting for a client to read them, listings being sent, requests
// in flight. Each connection's own marks bound what one connection holds;
// this bounds what all of them hold together, so that the peak memory of
// ftserve is a formula of its flags (docs/server.md, "Memory") whatever
// any number of peers send.
//
// Every connection may hold a small allowance whatever the others do, so a
// well-behaved client is served while hostile ones fill the budget. Beyond
// it, a connection holds more only while the budget has room: otherwise it
// stops reading and starting work, and waits (Waiter) until the budget
// drains below its low mark.
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace ft::server {

class MemoryBudget {
 public:
  /// What a connection may hold whatever the budget says.
  static constexpr std::size_t kAllowance = 32 * 1024;
  /// The budget with the default flags (docs/server.md, "Memory").
  static constexpr std::size_t kDefaultLimit = 64 * 1024 * 1024;

  /// Listings that read a directory at once, server-wide: a listing's
  /// entries are counted once its job has read them, so this bounds what
  /// jobs started while the budget had room can add at once.
  static constexpr std::size_t kMaxListingJobs = 8;
  /// Of those, how many may hash file contents (LIST with HASHES) at once,
  /// server-wide: a quarter of the pool's threads and half the CPUs, at
  /// least one and at most this. Such a job reads whole files and may hold
  /// a pool thread, and a CPU, for seconds; the other pool threads stay free
  /// for every connection's opens, reads, writes and commits, and the other
  /// CPUs for the loop and them, whatever one peer queues (docs/server.md,
  /// "Fairness").
  static constexpr std::size_t kMaxHashingJobs = 2;
  static_assert(kMaxHashingJobs < kMaxListingJobs);
  /// The hashing cap for a thread pool of `pool_threads` on `cpus` CPUs.
  static constexpr std::size_t hashing_jobs_for(std::size_t pool_threads, std::size_t cpus) {
    const std::size_t share = pool_threads / 4 < cpus / 2 ? pool_threads / 4 : cpus / 2;
    return share < 1 ? 1 : (share > kMaxHashingJobs ? kMaxHashingJobs : share);
  }
  void set_max_hashing_jobs(std::size_t jobs) { max_hashing_jobs_ = jobs; }

  /// Something that stopped for the budget and wants to hear when it drained.
  class Waiter {
   public:
    virtual void budget_freed() = 0;
    /// A listing job slot is free (take it now, or it goes to the next).
    virtual void listing_slot_freed() = 0;

   protected:
    ~Waiter() = default;
  };

  /// `defer` runs a task on a later turn of the loop: waiters are never
  /// woken from inside the call that freed the memory.
  MemoryBudget(std::size_t limit, std::function<void(std::function<void()>)> defer);

  /// A holder's share moves from `held` to `now`; `held` is updated.
  void update(std::size_t& held, std::size_t now);
  /// Over the limit: holders beyond their allowance must stop growing.
  bool tight() const { return used_ > limit_; }
  /// Whether `bytes` more fit under the limit.
  bool has_room(std::size_t bytes) const { return used_ + bytes <= limit_; }
  /// At or below the low mark, where waiters are woken.
  bool drained() const { return used_ <= low_mark_; }
  /// Whether a holder of `held` bytes may take `bytes` more.
  bool may_hold(std::size_t held, std::size_t bytes) const {
    return held + bytes <= kAllowance || has_room(bytes);
  }
  /// Calls waiter->budget_freed() once, on a later turn, when the budget is
  /// at or below its low mark (at once if it is already).
  void wait(Waiter* waiter);
  /// The waiter goes away (a connection closing): it is never called again.
  void forget(Waiter* waiter);

  /// Takes a listing job slot (and a hashing slot when it `hashes`) for
  /// `waiter` (null: one that never waits); false when all kMaxListingJobs
  /// (or the hashing slots) are taken, or when one that is free is promised
  /// to a waiter already in line. A slot granted to `waiter` while it
  /// waited (listing_slot_freed) is taken here.
  bool begin_listing_job(Waiter* waiter, bool hashes);
  /// Gives a slot back; the next waiter in turn that can use it is told, on
  /// a later turn.
  void end_listing_job(bool hashes);
  /// Puts `waiter`, of `owner` (an identity, or in open mode a connection),
  /// in line for a slot of the kind it needs: slots go to owners in turn
  /// (round robin), and within an owner to its waiters in turn, so one
  /// identity with many connections gets no more than one with few. When
  /// one is granted it is taken on the waiter's behalf, and
  /// waiter->listing_slot_freed() runs once, on a later turn: the waiter
  /// then calls begin_listing_job (which succeeds) or end_listing_job.
  void wait_for_listing_slot(Waiter* waiter, bool hashes, const std::string& owner = {});
  /// A slot granted to `waiter` that it did not take (it cannot start now)
  /// goes to the next in turn.
  void decline(Waiter* waiter);

  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_; }
  /// The highest `used` seen.
  std::size_t peak() const { return peak_; }

 private:
  void wake_if_drained();
  void hand_out_listing_slots();

  std::size_t limit_;
  std::size_t low_mark_;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  bool wake_scheduled_ = false;
  std::function<void(std::function<void()>)> defer_;
  std::unordered_set<Waiter*> waiters_;
  bool slot_free(bool hashes) const {
    return listing_jobs_ < kMaxListingJobs && (!hashes || hashing_jobs_ < max_hashing_jobs_);
  }

  struct SlotWaiter {
    Waiter* waiter;
    bool hashes;
  };
  /// Whether some waiter in line could take a free slot now: a newcomer
  /// must not take it before the hand-out that is on its way.
  bool promised() const;
  void take(bool hashes);
  std::size_t listing_jobs_ = 0;
  std::size_t hashing_jobs_ = 0;
  std::size_t max_hashing_jobs_ = kMaxHashingJobs;
  bool slots_scheduled_ = false;
  // Waiters by owner, each owner's in turn; owners in turn (the next to be
  // served first).
  std::unordered_map<std::string, std::deque<SlotWaiter>> slot_waiters_;
  std::deque<std::string> owner_turns_;
  std::unordered_map<Waiter*, bool> granted_;  // slot taken for it, hashes or not
};

}  // namespace ft::server
