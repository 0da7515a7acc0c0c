#pragma once
// LIST (a directory's entries) and STAT (one path), read by a job on the
// thread pool and answered with ENTRIES frames.
#include <memory>
#include <string>

#include "server/core/request_context.hpp"

namespace ft::server {

class Listing : public Request, public std::enable_shared_from_this<Listing> {
 public:
  /// `fields`: kFlagHashes / kFlagTargets asked by a LIST (TREES only).
  static std::shared_ptr<Listing> start(RequestContext& context, std::uint32_t id, std::string path,
                                        bool list, std::uint8_t fields = 0);
  Listing(RequestContext& context, std::uint32_t id, std::string path, bool list,
          std::uint8_t fields);
  void abort(ErrorCode code, bool notify) override;
  bool waiting_on_disk() const override { return true; }  // its one job runs until it replies

 private:
  void run();
  ContextRef context_;
  std::uint32_t id_;
  std::string path_;
  bool list_;
  std::uint8_t fields_;
  bool finished_ = false;
};

}  // namespace ft::server
