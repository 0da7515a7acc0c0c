// Per-identity quotas (issue 10, requirement 4; docs/server.md "Quotas").
// Usage of an identity's sub-directory is measured once, on the thread pool,
// when the identity's directory is first opened (Server::open_identity_root);
// from then on this server's own uploads keep it up to date here, on the
// loop: an upload's declared size is promised from its PUT, and becomes
// usage when it is committed or kept as a partial file.
#include <algorithm>
#include <string>

#include "server/net/server.hpp"

namespace ft::server {
namespace {

std::uint64_t less(std::uint64_t a, std::uint64_t b) {
  return a - std::min(a, b);
}

}  // namespace

std::optional<std::string> Server::admit_quota(const RequestContext& connection,
                                               const QuotaClaim& claim) {
  const Access& access = connection.access();
  if (access.quota_bytes == 0 && access.quota_files == 0) return std::nullopt;
  QuotaBook& book = quotas_[access.quota_tree];
  // Resuming a partial file kept earlier: its share is already counted, and
  // passes to this upload if it is admitted.
  std::uint64_t credit_bytes = 0;
  std::uint64_t credit_files = 0;
  auto kept = claim.partial.empty() ? book.kept.end() : book.kept.find(claim.partial);
  if (kept != book.kept.end()) {
    credit_bytes = kept->second;
    credit_files = 1;
  }
  const std::uint64_t bytes = less(book.used.bytes, credit_bytes) + book.open_bytes;
  const std::uint64_t files = less(book.used.files, credit_files) + book.open_files;
  if (access.quota_bytes != 0 &&
      (claim.size > access.quota_bytes || bytes > access.quota_bytes - claim.size)) {
    return "quota exceeded: this identity may hold " + std::to_string(access.quota_bytes) +
           " bytes; " + std::to_string(bytes) +
           " are used or promised to uploads in progress, this file declares " +
           std::to_string(claim.size);
  }
  if (access.quota_files != 0 && files >= access.quota_files) {
    return "quota exceeded: this identity may hold " + std::to_string(access.quota_files) +
           " files; " + std::to_string(files) + " are there or promised to uploads in progress";
  }
  if (kept != book.kept.end()) {
    book.used.bytes = less(book.used.bytes, credit_bytes);
    book.used.files = less(book.used.files, credit_files);
    book.kept.erase(kept);
  }
  book.open_bytes += claim.size;
  book.open_files += 1;
  return std::nullopt;
}

void Server::settle_quota(const RequestContext& connection, const QuotaClaim& claim,
                          QuotaOutcome outcome) {
  const Access& access = connection.access();
  if (access.quota_bytes == 0 && access.quota_files == 0) return;
  QuotaBook& book = quotas_[access.quota_tree];
  book.open_bytes = less(book.open_bytes, claim.size);
  book.open_files = less(book.open_files, 1);
  if (outcome == QuotaOutcome::kDropped) return;
  // Counted at the declared size: a replaced file's old bytes and a kept
  // partial file's missing ones are not subtracted (the count errs on the
  // safe side until the next start measures the tree again).
  book.used.bytes += claim.size;
  book.used.files += 1;
  if (outcome == QuotaOutcome::kKeptPartial && !claim.partial.empty()) {
    book.kept[claim.partial] = claim.size;
  }
}

}  // namespace ft::server
