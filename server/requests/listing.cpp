#include "server/requests/listing.hpp"

#include <cerrno>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "server/storage/root_fs.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

std::shared_ptr<Listing> Listing::start(RequestContext& context, std::uint32_t id, std::string path,
                                        bool list, std::uint8_t fields) {
  auto listing = std::make_shared<Listing>(context, id, std::move(path), list, fields);
  listing->context_->start_listing([listing] { listing->run(); });
  return listing;
}

Listing::Listing(RequestContext& context, std::uint32_t id, std::string path, bool list,
                 std::uint8_t fields)
    : context_(context), id_(id), path_(std::move(path)), list_(list), fields_(fields) {}

void Listing::run() {
  if (finished_) return context_->listing_finished();  // aborted while it waited
  struct Outcome {
    bool forbidden = false;
    std::optional<std::string> bad_path;
    int err = 0;
    std::vector<Entry> entries;
  };
  auto outcome = std::make_shared<Outcome>();
  outcome->forbidden = !context_->access().allows(kRightList);
  outcome->bad_path = path_violation(path_, true);
  const int root = context_->root_fd();
  const std::string path = path_;
  const bool list = list_;
  const std::uint8_t fields = fields_;
  queue_job(
      context_->loop(),
      [outcome, root, path, list, fields] {
        if (outcome->forbidden || outcome->bad_path) return;
        if (list) {
          outcome->err = list_directory(root, path, outcome->entries, (fields & kFlagHashes) != 0,
                                        (fields & kFlagTargets) != 0);
        } else {
          Entry entry;
          outcome->err = stat_path(root, path, entry);
          if (outcome->err == 0) outcome->entries.push_back(std::move(entry));
        }
      },
      [self = shared_from_this(), outcome] {
        self->context_->listing_finished();
        if (self->finished_) return;
        self->finished_ = true;
        if (outcome->bad_path) {
          self->context_->send_error(self->id_, ErrorCode::BAD_PATH, self->path_,
                                     "path refused: " + *outcome->bad_path);
        } else if (outcome->forbidden) {
          self->context_->send_error(self->id_, ErrorCode::FORBIDDEN, self->path_,
                                     "this identity may not list");
        } else if (outcome->err != 0) {
          self->context_->send_error(self->id_, error_from_errno(outcome->err), self->path_,
                                     std::strerror(outcome->err));
        } else {
          Bytes out;
          encode_entries(out, self->id_, outcome->entries, self->fields_);
          self->context_->send_frame(std::move(out));
        }
        self->context_->finish_request(self->id_, false);
      });
}

void Listing::abort(ErrorCode code, bool notify) {
  if (finished_) return;
  finished_ = true;
  if (notify) context_->send_error(id_, code, path_, std::string(default_message(code)));
  context_->finish_request(id_, false);
}

}  // namespace ft::server
