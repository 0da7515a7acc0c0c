#pragma once
// LIST (a directory's entries) and STAT (one path), read by jobs on the
// thread pool and answered with ENTRIES frames. A directory is read a
// window (kListingWindow entries) at a time, each window by a job of its
// own that waits its turn in the listings' line, and goes out in pages,
// one ENTRIES frame at a time while the connection's send queue and the
// server's memory budget allow (docs/protocol.md, section 5.3): memory
// holds one window whatever the directory's size. A PACED LIST (section
// 5.17) waits after each window for the client's NEXT, holding only its
// open directory meanwhile.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/wire/messages.hpp"
#include "server/core/request_context.hpp"
#include "server/storage/directory_reader.hpp"

namespace ft::server {

class Listing : public Request, public std::enable_shared_from_this<Listing> {
 public:
  /// `fields`: kFlagHashes / kFlagTargets asked by a LIST (TREES only).
  static std::shared_ptr<Listing> start(RequestContext& context, std::uint32_t id, std::string path,
                                        bool list, std::uint8_t fields = 0);
  Listing(RequestContext& context, std::uint32_t id, std::string path, bool list,
          std::uint8_t fields);
  void abort(ErrorCode code, bool notify) override;
  /// Only while its job reads the directory: a listing waiting for its
  /// client to read the pages is no progress (the idle timeout).
  bool waiting_on_disk() const override { return job_running_; }
  void on_writable() override { send_pages(); }
  bool resume() override;

 private:
  /// Queues run() in the connection's line of listings.
  void wait_for_window();
  /// Reads the next window (the first one opens the directory) on the
  /// thread pool, then sends its pages.
  void run();
  /// Holds the window just read, counted in the memory budget.
  void take_window(std::vector<Entry> entries, bool more);
  /// A LIST with HASHES: its job reads whole files, so it takes one of the
  /// few server-wide hashing slots (docs/server.md, "Fairness").
  bool hashes() const { return list_ && (fields_ & kFlagHashes) != 0; }
  /// Sends the next pages while the connection may buffer them.
  void send_pages();
  /// Ends the listing (its last page or an error went out, or it was
  /// aborted): frees its entries and its place among the running listings.
  void release();
  /// Its access-log line and metrics (RequestContext::log_access).
  void log_end(const std::string& result);

  ContextRef context_;
  std::uint32_t id_;
  std::string path_;
  bool list_;
  std::uint8_t fields_;  // kFlagHashes | kFlagTargets | kFlagMeta
  bool paced_;           // PACED: a window at a time, the next after NEXT
  bool paused_ = false;  // a window went out; waiting for NEXT
  bool finished_ = false;
  bool running_ = false;                     // holds one of the connection's listing places
  bool job_running_ = false;                 // the directory is being read
  bool in_line_ = false;                     // waiting for its turn to read the next window
  std::shared_ptr<DirectoryReader> reader_;  // shared with the job that reads it
  std::vector<Entry> entries_;               // the current window
  bool more_windows_ = false;                // the directory has entries after it
  std::size_t next_ = 0;                     // first entry of the next page
  std::size_t memory_held_ = 0;              // entries_, as counted in the budget
  std::uint64_t bytes_sent_ = 0;             // ENTRIES frames, for the access line
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace ft::server
