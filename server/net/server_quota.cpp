// Per-identity quotas (issue 10, requirement 4; docs/server.md "Quotas").
// Usage of an identity's sub-directory is measured once, on the thread pool,
// when the identity's directory is first opened (Server::open_identity_root);
// from then on this server's own uploads keep it up to date here, on the
// loop: an upload's declared size is promised from its PUT, and becomes
// usage when it is committed (less the file it replaced) or kept as a
// partial file; a kept partial file the stale-partial cleanup removes is
// given back (quota_partials_removed). Partial files found at start-up or
// by the measure count as kept, for the quota and for the identity's cap on
// kept partial files (--max-partials-per-identity).
#include <fcntl.h>

#include <algorithm>
#include <set>
#include <string>

#include "server/net/server.hpp"

namespace ft::server {
namespace {

std::uint64_t less(std::uint64_t a, std::uint64_t b) {
  return a - std::min(a, b);
}

}  // namespace

std::optional<std::string> Server::admit_quota(const RequestContext& connection,
                                               QuotaClaim& claim) {
  const Access& access = connection.access();
  if (access.quota_bytes == 0 && access.quota_files == 0) return std::nullopt;
  QuotaBook& book = quotas_[access.quota_tree];
  // Resuming a partial file kept earlier: its share is already counted, and
  // passes to this upload if it is admitted.
  std::uint64_t credit_bytes = 0;
  std::uint64_t credit_files = 0;
  auto kept = claim.partial.empty() ? book.kept.end() : book.kept.find(claim.partial);
  if (kept != book.kept.end()) {
    credit_bytes = kept->second.bytes;
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
    claim.credited = true;
    claim.credit_bytes = credit_bytes;
    claim.credit_file = kept->second.file;
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
  switch (outcome) {
    case QuotaOutcome::kDropped:
      return;
    case QuotaOutcome::kCommitted:
      // An overwrite counts the change of size: the replaced file's bytes
      // and its place in the file count go to the new one.
      book.used.bytes = less(book.used.bytes + claim.size, claim.replaced.value_or(0));
      if (!claim.replaced) book.used.files += 1;
      return;
    case QuotaOutcome::kKeptPartial:
      // Counted at the declared size, as a resume will need it.
      book.used.bytes += claim.size;
      book.used.files += 1;
      if (!claim.partial.empty()) book.kept[claim.partial] = KeptQuota{claim.size, claim.file};
      return;
    case QuotaOutcome::kUntouched:
      // The partial file it would have resumed is still there, as it was.
      if (!claim.credited) return;
      book.used.bytes += claim.credit_bytes;
      book.used.files += 1;
      book.kept[claim.partial] = KeptQuota{claim.credit_bytes, claim.credit_file};
      return;
  }
}

void Server::quota_removed(const RequestContext& connection, std::uint64_t bytes) {
  const Access& access = connection.access();
  if (access.quota_bytes == 0 && access.quota_files == 0) return;
  QuotaBook& book = quotas_[access.quota_tree];
  book.used.bytes = less(book.used.bytes, bytes);
  book.used.files = less(book.used.files, 1);
}

void Server::quota_partials_removed(const std::vector<FileId>& removed) {
  if (removed.empty() || quotas_.empty()) return;
  const std::set<FileId> gone(removed.begin(), removed.end());
  for (auto& [tree, book] : quotas_) {
    for (auto it = book.kept.begin(); it != book.kept.end();) {
      if (it->second.file && gone.contains(*it->second.file)) {
        book.used.bytes = less(book.used.bytes, it->second.bytes);
        book.used.files = less(book.used.files, 1);
        it = book.kept.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void Server::measured(const KeyEntry& entry, const std::string& root_id, TreeUsage usage) {
  QuotaBook& book = quotas_[entry.subdir];
  const bool quota = entry.quota_bytes != 0 || entry.quota_files != 0;
  if (quota && !book.measured) {
    book.measured = true;
    // What this server's uploads committed meanwhile is in the walk.
    book.used.bytes = usage.bytes;
    book.used.files = usage.files;
  }
  const std::string owner = options_.tls ? entry.name : std::string();  // Access::identity
  for (FoundPartial& found : usage.partials) {
    // Partial files kept before a restart (or by another server run): kept
    // entries of the quota, and kept files for the identity's cap.
    if (quota && !book.kept.contains(found.path)) {
      book.kept.emplace(found.path, KeptQuota{found.counted, found.file});
    }
    if (!root_id.empty()) register_kept_partial(root_id + "/" + found.path, owner);
  }
}

void Server::count_kept_partials(const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  struct Tree {
    std::string subdir;  // "" for the whole root
    std::string owner;   // hold_partial's owner
    std::string root_id;
  };
  std::vector<Tree> trees;
  auto add_tree = [&](const std::string& subdir, const std::string& owner) {
    for (const Tree& tree : trees) {
      if (tree.subdir == subdir) return;  // shared: the first one's
    }
    Fd opened;
    const int dir = subdir.empty() ? root_.get() : -1;
    if (dir < 0 &&
        open_beneath_without_links(root_.get(), subdir, O_DIRECTORY | O_RDONLY, opened) != 0) {
      return;  // not there yet: it holds no partial file
    }
    std::string root_id;
    if (directory_identity(dir >= 0 ? dir : opened.get(), root_id) == 0) {
      trees.push_back(Tree{subdir, owner, root_id});
    }
  };
  if (!options_.tls) add_tree("", "");
  for (const KeyEntry& entry : options_.keys) add_tree(entry.subdir, entry.name);
  for (const std::string& path : paths) {
    const Tree* owner = nullptr;
    for (const Tree& tree : trees) {
      const bool beneath =
          tree.subdir.empty() || (path.size() > tree.subdir.size() &&
                                  path.compare(0, tree.subdir.size(), tree.subdir) == 0 &&
                                  path[tree.subdir.size()] == '/');
      if (beneath && (owner == nullptr || tree.subdir.size() > owner->subdir.size())) {
        owner = &tree;
      }
    }
    if (owner == nullptr) continue;
    const std::size_t skip = owner->subdir.empty() ? 0 : owner->subdir.size() + 1;
    register_kept_partial(owner->root_id + "/" + path.substr(skip), owner->owner);
  }
}

void Server::register_kept_partial(const std::string& key, const std::string& owner) {
  if (active_partials_.contains(key) || held_partials_.contains(key)) return;
  held_partials_.emplace(key, HeldPartial{owner, std::chrono::steady_clock::now(), false});
  ++kept_per_owner_[owner];
}

}  // namespace ft::server
