// HARDLINK and ATTRS (ARCHIVE, docs/protocol.md section 5.9): TreeRequests
// whose one job is in storage/archive_fs.cpp.
#include "common/rules/path_rules.hpp"
#include "server/requests/tree_request.hpp"
#include "server/storage/archive_fs.hpp"

namespace ft::server {

std::shared_ptr<TreeRequest> TreeRequest::hardlink(RequestContext& context, std::uint32_t id,
                                                   HardlinkMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "hardlink");
  const Access& access = request->context_->access();
  const NamePolicy names = name_policy(access);
  const NameRules rules = request->context_->name_rules();
  if (auto why = path_violation(msg.path, false, rules)) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if (auto bad = path_violation(msg.existing, false, rules)) {
    request->refuse_later(ErrorCode::BAD_PATH, "existing path refused: " + *bad);
  } else if (!access.allows(kRightRead)) {
    // A link gives the new name the existing file's content.
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not read");
  } else if (!names.create && !names.overwrite) {
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not create links");
  } else if (reserved_place(access, msg.path) != ReservedPlace::kElsewhere ||
             reserved_place(access, msg.existing) != ReservedPlace::kElsewhere) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    request->run([root, msg, names] {
      const int err = make_hardlink(root, split_path(msg.path), split_path(msg.existing), names);
      // Only a regular file gets another name.
      return err == EPERM ? EINVAL : err;
    });
  }
  return request;
}

std::shared_ptr<TreeRequest> TreeRequest::attrs(RequestContext& context, std::uint32_t id,
                                                AttrsMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "attrs");
  const Access& access = request->context_->access();
  const bool owners = (msg.fields & (kAttrsOwner | kAttrsGroup)) != 0;
  if (auto why = path_violation(msg.path, true, request->context_->name_rules())) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if (!access.allows(kRightCreate) && !access.allows(kRightOverwrite)) {
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not change files");
  } else if (owners && !request->context_->owners()) {
    request->refuse_later(ErrorCode::FORBIDDEN,
                          "owners are not set for this identity (OWNERS not agreed: the server "
                          "does not run as root, or the identity lacks the owner right)");
  } else if (msg.path.empty()) {
    // The root is never changed (as with MKDIR): nothing to do.
    request->run([] { return 0; });
  } else if (reserved_place(access, msg.path) != ReservedPlace::kElsewhere) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    // Set-id bits only where the owner is the sender's too.
    const bool full_mode = owners;
    request->run(
        [root, msg, full_mode] { return apply_attrs(root, split_path(msg.path), msg, full_mode); });
  }
  return request;
}

}  // namespace ft::server
