#include "server/requests/tree_request.hpp"

#include <cerrno>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "server/storage/hash_cache.hpp"
#include "server/storage/job_batcher.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {

NamePolicy name_policy(const Access& access) {
  return NamePolicy{access.allows(kRightCreate), access.allows(kRightOverwrite)};
}

namespace {

// A link target whose ".." comes after a name ("a/up/../x") is resolved by
// the file system through whatever "a/up" is when the link is followed: a
// link there makes ".." climb from elsewhere, out of the tree (the
// CVE-2024-12088 class). Climbing first and only descending after is
// resolved from the link's own directory, which is reached without links:
// that stays inside the tree the path rules measured.
bool climbs_after_a_name(const std::string& target) {
  bool named = false;
  for (const std::string& part : split_path(target)) {
    if (part == "..") {
      if (named) return true;
    } else if (!part.empty() && part != ".") {
      named = true;
    }
  }
  return false;
}

}  // namespace

TreeRequest::TreeRequest(RequestContext& context, std::uint32_t id, std::string path,
                         const char* op)
    : context_(context), id_(id), path_(std::move(path)), op_(op) {}

std::shared_ptr<TreeRequest> TreeRequest::mkdir(RequestContext& context, std::uint32_t id,
                                                MkdirMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "mkdir");
  const NamePolicy names = name_policy(request->context_->access());
  if (auto why = path_violation(msg.path, true, request->context_->name_rules())) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if ((msg.mkdir_flags & ~kMkdirSetMtime) != 0) {
    request->refuse_later(ErrorCode::PROTOCOL, "unknown MKDIR flags");
  } else if (!names.create && !names.overwrite) {
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not create directories");
  } else if (reserved_place(request->context_->access(), msg.path) ==
             ReservedPlace::kBelowReserved) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    const bool set_mtime = (msg.mkdir_flags & kMkdirSetMtime) != 0;
    // Another identity's directory exists for it alone: never created by
    // this one, nor its mode or times changed (docs/server.md "Keys").
    const bool keep_existing =
        reserved_place(request->context_->access(), msg.path) == ReservedPlace::kReserved;
    request->run([root, msg, set_mtime, names, keep_existing] {
      return make_directory(root, split_path(msg.path), msg.mode,
                            set_mtime ? &msg.mtime_ns : nullptr, names, keep_existing);
    });
  }
  return request;
}

std::shared_ptr<TreeRequest> TreeRequest::symlink(RequestContext& context, std::uint32_t id,
                                                  SymlinkMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "symlink");
  const NamePolicy names = name_policy(request->context_->access());
  const NameRules rules = request->context_->name_rules();
  // With ARCHIVE a target is stored as it is: reads resolve beneath the
  // root, so one that leaves it is never followed (section 5.9).
  const bool verbatim = rules == NameRules::kAnyBytes;
  if (auto why = path_violation(msg.path, false, rules)) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if (auto bad_target = verbatim ? archive_target_violation(msg.target)
                                        : symlink_target_violation(msg.path, msg.target)) {
    request->refuse_later(ErrorCode::BAD_PATH, "link target refused: " + *bad_target);
  } else if (!verbatim && climbs_after_a_name(msg.target)) {
    request->refuse_later(ErrorCode::BAD_PATH,
                          "link target refused: \"..\" after a name (it would climb from "
                          "wherever that name leads)");
  } else if (!names.create && !names.overwrite) {
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not create links");
  } else if (reserved_place(request->context_->access(), msg.path) != ReservedPlace::kElsewhere) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    request->run([root, msg, names] {
      return make_symlink(root, split_path(msg.path), msg.target, msg.mtime_ns, names);
    });
  }
  return request;
}

std::shared_ptr<TreeRequest> TreeRequest::remove(RequestContext& context, std::uint32_t id,
                                                 DeleteMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "delete");
  const Access& access = request->context_->access();
  if (auto why = path_violation(msg.path, false)) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if (msg.delete_flags != 0) {
    request->refuse_later(ErrorCode::PROTOCOL, "unknown DELETE flags");
  } else if (!access.allows(kRightDelete)) {
    request->refuse_later(ErrorCode::FORBIDDEN,
                          "this identity may not delete: it lacks the 'delete' right (keys "
                          "file), or ftserve runs with --append-only or --read-only");
  } else if (reserved_place(access, msg.path) != ReservedPlace::kElsewhere) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    auto removed = std::make_shared<Entry>();
    request->run(
        [root, path = msg.path, removed] { return remove_name(root, split_path(path), *removed); },
        [removed](TreeRequest& self) {
          // A regular file gives its bytes back to the identity's quotas
          // (even if the request was aborted meanwhile: the file is gone);
          // links and directories were never counted.
          if (removed->type == EntryType::kFile) {
            self.context_->services().quota_removed(*self.context_, removed->size);
          }
        });
  }
  return request;
}

std::shared_ptr<TreeRequest> TreeRequest::link(RequestContext& context, std::uint32_t id,
                                               LinkMsg msg) {
  auto request = std::make_shared<TreeRequest>(context, id, msg.path, "link");
  const Access& access = request->context_->access();
  const NamePolicy names = name_policy(access);
  if (auto why = path_violation(msg.path, false)) {
    request->refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  } else if (auto bad_reference = path_violation(msg.reference, false)) {
    request->refuse_later(ErrorCode::BAD_PATH, "reference refused: " + *bad_reference);
  } else if ((msg.link_flags & ~kLinkCheckHash) != 0) {
    request->refuse_later(ErrorCode::PROTOCOL, "unknown LINK flags");
  } else if (!names.create && !names.overwrite) {
    request->refuse_later(ErrorCode::FORBIDDEN, "this identity may not create files");
  } else if (reserved_place(access, msg.path) != ReservedPlace::kElsewhere ||
             reserved_place(access, msg.reference) != ReservedPlace::kElsewhere) {
    request->refuse_later(ErrorCode::FORBIDDEN, kReservedMessage);
  } else {
    const int root = request->context_->root_fd();
    HashCache* hashes = &request->context_->services().hash_cache();
    request->run([root, msg, names, hashes] {
      return link_reference(root, split_path(msg.reference), split_path(msg.path), msg, names,
                            *hashes);
    });
  }
  return request;
}

void TreeRequest::refuse_later(ErrorCode code, std::string message) {
  // Replies are never sent from inside the request's own handler.
  context_->defer([self = shared_from_this(), code, message] { self->finish(code, message); });
}

void TreeRequest::run(std::function<int()> change, std::function<void(TreeRequest&)> done) {
  auto err = std::make_shared<int>(0);
  context_->services().batcher().submit(
      [change, err] { *err = change(); },
      [self = shared_from_this(), err, done] {
        if (*err == 0) {
          if (done) done(*self);
          return self->finish(ErrorCode{}, "");
        }
        if (*err == kForbiddenByRights) {
          return self->finish(ErrorCode::FORBIDDEN, "this identity may not create new names");
        }
        if (*err == EEXIST) {
          return self->finish(ErrorCode::EXISTS,
                              "the name exists and this identity "
                              "may not overwrite it");
        }
        if (*err == kReferenceChanged) {
          return self->finish(ErrorCode::REFERENCE_CHANGED,
                              "the reference is not the file described (size, mode, mtime or "
                              "content differ, or it is not a regular file)");
        }
        if (*err == ENOTEMPTY) {
          return self->finish(ErrorCode::NOT_EMPTY,
                              "the directory is not empty: DELETE removes files, links and "
                              "empty directories only");
        }
        if (*err == ELOOP) {
          return self->finish(ErrorCode::PATH_ESCAPES_ROOT,
                              "a directory on the way is a symbolic link: changes are never "
                              "made through links");
        }
        self->finish(error_from_errno(*err), std::strerror(*err));
      });
}

void TreeRequest::finish(ErrorCode code, const std::string& message) {
  if (finished_) return;
  finished_ = true;
  auto keep = shared_from_this();
  if (code == ErrorCode{}) {
    Bytes out;
    encode_ok(out, id_);
    context_->send_frame(std::move(out));
  } else {
    context_->send_error(id_, code, path_, message);
  }
  context_->log_access(op_, path_, 0, started_, code == ErrorCode{} ? "ok" : to_string(code));
  context_->finish_request(id_, false);
}

void TreeRequest::abort(ErrorCode code, bool notify) {
  if (finished_) return;
  if (notify) return finish(code, std::string(default_message(code)));
  finished_ = true;  // the change may still happen; nobody is told
  context_->log_access(op_, path_, 0, started_, to_string(code));
}

}  // namespace ft::server
