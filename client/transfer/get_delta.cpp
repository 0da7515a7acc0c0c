// ftget's delta downloads (docs/protocol.md, section 5.16): a GET for a
// file that already exists locally sets DELTA; at GET_READY the local copy
// (the basis) is signed and the signature sent, or an empty one when a
// delta would not pay. COPY ranges are then copied from the basis into the
// partial file, hashed as the partial file holds them, and the whole file
// is verified at END as always: a basis changed meanwhile fails that check
// and the file is fetched again whole, never committed as a mix.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "client/local/basis_signer.hpp"
#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/get_pipeline.hpp"
#include "common/delta/block_signature.hpp"
#include "common/os/copy_range.hpp"
#include "common/os/exact_io.hpp"
#include "common/os/mtime.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

// Copied ranges are read back this much at a time to hash them.
constexpr std::size_t kReadBack = 256 * 1024;

}  // namespace

bool GetPipeline::open_basis(Session& session, DownloadItem& item) {
  if (delta_mode_ == DeltaMode::kNever || item.delta_refused || item.no_basis ||
      !session.delta_get_agreed()) {
    return false;
  }
  // Not through a link (the final name is replaced, never followed), and
  // without blocking on a FIFO someone left there.
  Fd basis(::openat(item.dir_fd, item.local_name.c_str(),
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!basis || ::fstat(basis.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) < kDeltaMinBasis) {
    return false;
  }
  item.basis = std::move(basis);
  item.basis_size = static_cast<std::uint64_t>(st.st_size);
  item.basis_mtime_ns = mtime_ns_of(st);
  return true;
}

void GetPipeline::send_signature(Session& session, DownloadItem& item) {
  // kAuto: only a big file that differs from the local one by size or
  // mtime (the same file is fetched whole: the user asked for it again).
  const bool pays =
      delta_mode_ == DeltaMode::kAlways ||
      (item.ready.size >= kDeltaMinSize &&
       (item.basis_size != item.ready.size || item.basis_mtime_ns != item.ready.mtime_ns));
  std::vector<delta::SignaturePart> parts;
  if (pays) {
    // The data waits for the whole signature: a big basis is signed in
    // two halves at once (client/local/basis_signer.hpp).
    parts = sign_basis(item.basis.get(), item.basis_size, std::thread::hardware_concurrency());
  }
  if (parts.empty() || parts.front().blocks.empty()) {
    // A signature of no block: the server sends the file plainly.
    delta::SignaturePart none;
    none.block_size = delta::block_size_for(0);
    parts.assign(1, none);
    item.basis.reset();
  } else {
    item.delta_used = true;
    report_.verbose_line("delta: " + printable(item.local_path) + " against the local copy of " +
                         std::to_string(parts.front().block_size) + "-byte blocks");
  }
  for (const delta::SignaturePart& part : parts) {
    Bytes frame;
    encode_signature(frame, item.id, part);
    session.send(std::move(frame), item.id);
  }
}

void GetPipeline::on_copy(Session& session, DownloadItem& item, const Frame& frame) {
  auto copy = decode_copy(frame.payload);
  if (!copy) return session.protocol_error("malformed COPY");
  if (item.state == DownloadState::kCancelling) return;
  if (item.state != DownloadState::kReceiving) {
    return session.protocol_error("COPY before GET_READY for request " + std::to_string(item.id));
  }
  auto refuse = [&](const std::string& why) {
    cancel(session, item, Error{ErrorCode::PROTOCOL, item.remote, "COPY " + why});
  };
  if (!item.delta_used) return refuse("without a signature sent for it");
  if (copy->offset != item.received) {
    return refuse("at offset " + std::to_string(copy->offset) + ", expected " +
                  std::to_string(item.received));
  }
  if (copy->length > item.ready.size - item.received) {
    return refuse("past the declared size of " + std::to_string(item.ready.size) + " bytes");
  }
  if (copy->basis_offset > item.basis_size || copy->length > item.basis_size - copy->basis_offset) {
    return refuse("beyond the local copy of " + std::to_string(item.basis_size) + " bytes");
  }
  std::string why;
  if (int err = copy_range(item.basis.get(), copy->basis_offset, item.landing->fd(), copy->offset,
                           copy->length)) {
    return cancel(
        session, item,
        Error{
            ErrorCode::LOCAL_FILE, {}, "copy from " + item.local_path + ": " + std::strerror(err)});
  }
  // The hash is of the bytes as the partial file holds them: what END's
  // hash is checked against is what gets committed.
  Bytes buffer(static_cast<std::size_t>(std::min<std::uint64_t>(kReadBack, copy->length)));
  for (std::uint64_t at = 0; at < copy->length;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kReadBack, copy->length - at));
    if (!item.landing->read_at(copy->offset + at, std::span(buffer).first(n), why)) {
      return cancel(session, item, Error{ErrorCode::LOCAL_FILE, {}, why});
    }
    item.hash.update(ByteSpan(buffer).first(n));
    at += n;
  }
  item.received += copy->length;
  item.matched_bytes += copy->length;
  report_.progress().add_present_bytes(copy->length);
  item.counted_present += copy->length;
}

void GetPipeline::retry_without_delta(Session& session, DownloadItem& item) {
  report_.note(printable(item.remote) +
               ": the delta did not verify (the local copy changed meanwhile?); fetching it whole");
  by_id_.erase(item.id);
  // The whole file comes again from byte 0 (a delta starts there).
  item.take_back_progress(report_.progress());
  item.delta_refused = true;
  send_get(session, item, 0, false);
}

}  // namespace ft::client
