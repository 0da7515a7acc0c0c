#pragma once
// The STATs of one connection, run together. A client comparing a huge
// directory file by file (ftsend -r, docs/client.md "Memory and speed")
// sends hundreds of STATs at once; a thread-pool job each cost more in
// the pool's locking and wake-ups than the fstatat itself (a million of
// them kept ftserve over 30 s in the kernel). The STATs that arrive while
// a batch waits or runs form the next one: one job, in the connection's
// line of listings like a listing window, for up to kMaxStatsPerJob.
#include <cstddef>
#include <deque>
#include <functional>

namespace ft::server {

class RequestContext;

class StatBatcher {
 public:
  /// STATs read in one job: about a listing window's worth of fstatat at
  /// most, since a request-in-flight cap (1,024) bounds them anyway.
  static constexpr std::size_t kMaxStatsPerJob = 1024;

  explicit StatBatcher(RequestContext& context) : context_(context) {}
  StatBatcher(const StatBatcher&) = delete;
  StatBatcher& operator=(const StatBatcher&) = delete;

  /// Runs `work` on the thread pool with the STATs queued meanwhile, then
  /// `done` on the loop. Neither runs if the connection closes first.
  void add(std::function<void()> work, std::function<void()> done);
  /// The connection closed: the STATs waiting are dropped (their requests
  /// hold references that would keep its memory for ever).
  void clear() { waiting_.clear(); }

 private:
  struct Stat {
    std::function<void()> work, done;
  };
  void start();
  void run();

  RequestContext& context_;
  std::deque<Stat> waiting_;
  bool in_line_ = false;  // a batch waits for its place or runs
};

}  // namespace ft::server
