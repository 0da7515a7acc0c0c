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
#include "server/storage/root_fs.hpp"

namespace ft::server {

/// The rights an identity has over names, for MKDIR, SYMLINK and HARDLINK.
NamePolicy name_policy(const Access& access);
/// Why a change inside another identity's directory is refused.
inline constexpr const char* kReservedMessage =
    "another identity's directory: it is not this identity's to create, change or write into";

class TreeRequest : public Request, public std::enable_shared_from_this<TreeRequest> {
 public:
  static std::shared_ptr<TreeRequest> mkdir(RequestContext& context, std::uint32_t id,
                                            MkdirMsg msg);
  static std::shared_ptr<TreeRequest> symlink(RequestContext& context, std::uint32_t id,
                                              SymlinkMsg msg);
  static std::shared_ptr<TreeRequest> remove(RequestContext& context, std::uint32_t id,
                                             DeleteMsg msg);
  static std::shared_ptr<TreeRequest> link(RequestContext& context, std::uint32_t id, LinkMsg msg);
  /// HARDLINK and ATTRS (ARCHIVE, section 5.9), in archive_request.cpp.
  static std::shared_ptr<TreeRequest> hardlink(RequestContext& context, std::uint32_t id,
                                               HardlinkMsg msg);
  static std::shared_ptr<TreeRequest> attrs(RequestContext& context, std::uint32_t id,
                                            AttrsMsg msg);
  /// `op`: "mkdir", "symlink", "delete", "link", "hardlink" or "attrs", for
  /// the access log.
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
