// An upload, first half: admission (rights, slots, quota, space) and
// opening its file, up to PUT_READY. upload_receive.cpp has the rest:
// DATA and END, the commit and the ways an upload ends.
#include "server/requests/upload.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/os/exact_io.hpp"
#include "common/rules/path_rules.hpp"
#include "server/storage/job_batcher.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {
namespace {

std::string parent_of(const std::vector<std::string>& components) {
  std::string out;
  for (std::size_t i = 0; i + 1 < components.size(); ++i) out += components[i] + "/";
  return out;
}

}  // namespace

std::shared_ptr<Upload> Upload::start(RequestContext& context, std::uint32_t id, PutMsg put) {
  auto upload = std::make_shared<Upload>(context, id, std::move(put));
  upload->open();
  return upload;
}

Upload::Upload(RequestContext& context, std::uint32_t id, PutMsg put)
    : context_(context),
      id_(id),
      put_(std::move(put)),
      resumable_((put_.put_flags & kPutResumable) != 0),
      eager_((put_.put_flags & kPutEager) != 0),
      stream_((put_.put_flags & kPutStream) != 0),
      delta_((put_.put_flags & kPutDelta) != 0),
      early_(delta_ && context.delta_early()),
      started_(std::chrono::steady_clock::now()) {
  const Access& access = context_->access();
  names_.create = access.allows(kRightCreate);
  names_.overwrite = access.allows(kRightOverwrite);
}

Upload::~Upload() {
  // Every way an upload ends releases its slot; this only covers a path
  // that was missed, so the identity never loses a slot for good.
  release_slot();
  settle_quota(QuotaOutcome::kDropped);
}

void Upload::settle_quota(QuotaOutcome outcome) {
  if (!quota_) return;
  QuotaClaim claim = std::move(*quota_);
  quota_.reset();
  context_->services().settle_quota(*context_, claim, outcome);
}

void Upload::release_slot() {
  if (!slot_held_) return;
  slot_held_ = false;
  context_->services().release_upload_slot(*context_);
}

UploadPlan Upload::plan() const {
  return UploadPlan{context_->root_fd(),
                    components_,
                    names_,
                    put_.size,
                    context_->services().options().free_space_reserve,
                    &context_->services().space_ledger()};
}

void Upload::refuse_later(ErrorCode code, std::string message) {
  state_ = State::kRefusing;  // an eager client's DATA and END are dropped meanwhile
  // Replies are never sent from inside the request's own handler.
  context_->defer([self = shared_from_this(), code, message] { self->fail(code, message); });
}

void Upload::open() {
  if (auto why = path_violation(put_.path, false, context_->name_rules())) {
    return refuse_later(ErrorCode::BAD_PATH, "path refused: " + *why);
  }
  if (reserved_place(context_->access(), put_.path) != ReservedPlace::kElsewhere) {
    return refuse_later(ErrorCode::FORBIDDEN, "another identity's directory is not this one's");
  }
  if (put_.chunk_size < limits::kMinChunkSize || put_.chunk_size > limits::kMaxChunkSize) {
    return refuse_later(ErrorCode::BAD_CHUNK_SIZE,
                        "chunk size " + std::to_string(put_.chunk_size) + " out of range");
  }
  if ((put_.put_flags & ~(kPutResumable | kPutEager | kPutStream | kPutDelta)) != 0 ||
      (resumable_ && !context_->resume()) || (eager_ && (!context_->eager() || resumable_)) ||
      (stream_ && !context_->stream()) || (delta_ && (!context_->delta_put() || eager_))) {
    return refuse_later(ErrorCode::PROTOCOL,
                        "PUT flags " + std::to_string(put_.put_flags) + " not agreed");
  }
  if (stream_ && (resumable_ || eager_ || delta_ || put_.size != 0)) {
    // A stream cannot be read again (no resume), nor held in memory until
    // its END (no eager), nor matched against an old copy before it is
    // read (no delta); its size is END's to say.
    return refuse_later(ErrorCode::PROTOCOL,
                        "a STREAM PUT is neither RESUMABLE, EAGER nor DELTA and declares size 0");
  }
  if (eager_ && put_.size > put_.chunk_size) {
    // An eager upload's data waits in memory until its END: one chunk at
    // most (docs/protocol.md, section 5.6).
    return refuse_later(ErrorCode::PROTOCOL, "an eager PUT carries at most one chunk (" +
                                                 std::to_string(put_.chunk_size) + " bytes), not " +
                                                 std::to_string(put_.size));
  }
  if (!names_.create && !names_.overwrite) {
    return refuse_later(ErrorCode::FORBIDDEN, "this identity may not upload files");
  }
  const ServerOptions& options = context_->services().options();
  if (options.max_file_size != 0 && put_.size > options.max_file_size) {
    return refuse_later(ErrorCode::FILE_TOO_LARGE,
                        "file of " + std::to_string(put_.size) +
                            " bytes is larger than the server's limit of " +
                            std::to_string(options.max_file_size) + " bytes");
  }
  if (!context_->services().acquire_upload_slot(*context_)) {
    return refuse_later(ErrorCode::TOO_MANY_UPLOADS,
                        "more than " + std::to_string(options.max_uploads_per_identity) +
                            " uploads open for this identity");
  }
  slot_held_ = true;
  components_ = split_path(put_.path);
  // Refused here, before anything touches the disk: nothing half-written.
  // A resumable upload's share is named by its partial file's path, as the
  // walk that measures the identity's tree finds it.
  QuotaClaim claim;
  claim.size = put_.size;
  if (resumable_) claim.partial = parent_of(components_) + partial_file_name(put_);
  if (auto why = context_->services().admit_quota(*context_, claim)) {
    return refuse_later(ErrorCode::QUOTA_EXCEEDED, *why);
  }
  quota_ = std::move(claim);
  // An eager upload checks, opens, writes and commits its file in one batch
  // once its END is here (commit_eager); nothing touches the disk before.
  if (eager_) return;
  // First the checks (rights on the final name, free space), before
  // anything is created. A plain upload then creates its temporary file in
  // the same job; a resumable one first claims its partial file, whose key
  // names the identity's root (open_partial_file).
  auto disk = std::make_shared<DiskState>();
  auto root_id = std::make_shared<std::string>();
  job_running_ = true;
  context_->services().batcher().submit(
      [disk, root_id, plan = plan(), partial = resumable_ ? partial_file_name(put_) : ""] {
        open_upload(plan, partial, *disk, *root_id);
      },
      [self = shared_from_this(), disk, root_id] {
        self->job_running_ = false;
        self->disk_ = disk;
        if (self->ending_ != Ending::kNone) {
          return self->cleanup(self->ending_ == Ending::kKeepPartial);
        }
        if (disk->refusal) return self->fail(disk->refusal->code, disk->refusal->message);
        // With RESUME every PUT_READY carries a prefix hash, a plain
        // upload's too: at offset 0 the XXH3-128 of no bytes
        // (docs/protocol.md, section 5.4).
        if (!self->resumable_) return self->opened(0, 0, hash128(ByteSpan{}));
        // The key names the identity's root by device and inode: identities
        // with different sub-directories never share a key, and two that
        // share a root share its partial files (docs/server.md "Rights").
        std::string key =
            *root_id + "/" + parent_of(self->components_) + partial_file_name(self->put_);
        ServerServices& services = self->context_->services();
        if (!services.claim_partial(key)) {
          return self->fail(ErrorCode::BUSY, "another upload of this file is in progress");
        }
        // Checked before the partial file exists: a refused upload leaves
        // nothing behind.
        if (!services.hold_partial(*self->context_, key)) {
          services.release_partial(key);
          return self->fail(ErrorCode::QUOTA_EXCEEDED,
                            "this identity keeps " +
                                std::to_string(services.options().max_partials_per_identity) +
                                " partial files of cut uploads already "
                                "(--max-partials-per-identity): resume those first");
        }
        self->claim_ = std::move(key);
        self->open_partial_file();
      });
}

void Upload::open_partial_file() {
  if (disk_->partial_held <= kHashedWithoutSlot) return hash_partial_file();
  // Hashing gigabytes of partial data holds a pool thread and a CPU for
  // seconds: it takes one of the server's hashing slots, handed to
  // identities in turn, like a LIST with HASHES (docs/server.md,
  // "Fairness"). The upload may end while it waits.
  waiting_for_slot_ = true;
  context_->start_hashing([self = shared_from_this()] {
    self->waiting_for_slot_ = false;
    if (self->state_ == State::kFinished || self->ending_ != Ending::kNone) {
      return self->context_->hashing_done();
    }
    self->holds_hashing_slot_ = true;
    self->hash_partial_file();
  });
}

void Upload::hash_partial_file() {
  struct Outcome {
    int err = 0;
    std::uint64_t offset = 0;
    Hash128 prefix;
  };
  auto disk = disk_;
  auto outcome = std::make_shared<Outcome>();
  job_running_ = true;
  // A job of its own, not the shared batch: hashing the partial data reads
  // all of it (gigabytes for a big file), and every connection's small-file
  // opens and commits would wait behind it (docs/server.md, "Fairness").
  queue_job(
      context_->loop(),
      [disk, outcome, plan = plan(), partial = partial_file_name(put_)] {
        outcome->err = open_partial(plan, partial, *disk, outcome->offset);
        outcome->prefix = disk->hash.digest();
      },
      [self = shared_from_this(), outcome, disk] {
        self->job_running_ = false;
        if (self->holds_hashing_slot_) {
          self->holds_hashing_slot_ = false;
          self->context_->hashing_done();
        }
        if (self->quota_ && disk->partial_file) self->quota_->file = disk->partial_file;
        self->opened(outcome->err, outcome->offset, outcome->prefix);
      });
}

void Upload::opened(int err, std::uint64_t offset, const Hash128& prefix_hash) {
  if (ending_ != Ending::kNone) return cleanup(ending_ == Ending::kKeepPartial);
  if (err == EWOULDBLOCK) {
    // The partial file's lock is held: the same upload runs on another
    // server sharing this root (docs/scale-out.md), or ran there and its
    // descriptor is not closed yet.
    return fail(ErrorCode::BUSY, "another upload of this file is in progress (on another server)");
  }
  if (err != 0) return fail(error_from_errno(err), std::strerror(err));
  // A delta upload that starts from 0 first gets the signature of the file
  // it replaces, if the identity may read it (the signature tells about its
  // content). One that resumes partial data sends the rest in full. With
  // DELTA_EARLY the signature follows PUT_READY: the data flows meanwhile.
  const bool sign = delta_ && !signed_ && offset == 0;
  const bool may_read = context_->access().allows(kRightRead);
  if (sign && !early_ && may_read) return start_signing(prefix_hash);
  state_ = State::kReceiving;
  if (eager_) return pump();  // its data is already on the way, maybe queued
  offered_ = offset;
  received_ = offset;
  send_put_ready(offset, prefix_hash);
  if (sign && early_) {
    signed_ = true;
    if (!may_read) return send_signature({});  // of no block
    start_signing(prefix_hash);
  }
}

void Upload::send_put_ready(std::uint64_t offset, const Hash128& prefix_hash) {
  Bytes out;
  PutReadyMsg ready{offset, std::nullopt};
  if (context_->resume()) ready.prefix_hash = prefix_hash;
  encode_put_ready(out, id_, ready);
  context_->send_frame(std::move(out));
}

}  // namespace ft::server
