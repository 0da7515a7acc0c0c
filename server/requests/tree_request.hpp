#pragma once
// MKDIR and SYMLINK (docs/protocol.md, section 5.5), DELETE (section 5.7)
// and LINK (section 5.8): one file-system change each, made by a job
// beneath the root and answered with OK or ERROR.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/wire/messages.hpp"
#include "server/core/request_context.hpp"

namespace ft::server {

class TreeRequest : public Request, public std::enable_shared_from_this<TreeRequest> {
 public:
  static std::shared_ptr<TreeRequest> mkdir(RequestContext& context, std::uint32_t id,
                                            MkdirMsg msg);
  static std::shared_ptr<TreeRequest> symlink(RequestContext& context, std::uint32_t id,
                                              SymlinkMsg msg);
  static std::shared_ptr<TreeRequest> remove(RequestContext& context, std::uint32_t id,
                                             DeleteMsg msg);
  static std::shared_ptr<TreeRequest> link(RequestContext& context, std::uint32_t id, LinkMsg msg);
  /// `op`: "mkdir", "symlink", "delete" or "link", for the access log.
  TreeRequest(RequestContext& context, std::uint32_t id, std::string path, const char* op);
  void abort(ErrorCode code, bool notify) override;
  bool waiting_on_disk() const override { return true; }  // its one job runs until it replies

 private:
  void refuse_later(ErrorCode code, std::string message);
  /// Runs `change` on the thread pool; `done` (if any) runs on the loop
  /// after it succeeded, before the OK.
  void run(std::function<int()> change, std::function<void(TreeRequest&)> done = {});
  void finish(ErrorCode code, const std::string& message);

  ContextRef context_;
  std::uint32_t id_;
  std::string path_;
  const char* op_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace ft::server
