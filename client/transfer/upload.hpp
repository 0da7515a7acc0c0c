#pragma once
// ftsend's work: upload local files, or with -r whole trees, into one remote
// directory over one connection (pipelined PUTs); resumable uploads,
// rewinds and retries on a new connection when the server speaks RESUME
// (protocol 5.4).
#include <cstdint>
#include <string>
#include <vector>

#include "client/report/console.hpp"
#include "client/transfer/delete_plan.hpp"
#include "client/transfer/put_pipeline.hpp"
#include "client/transfer/retry.hpp"
#include "client/transfer/tree_archive.hpp"
#include "common/base/limits.hpp"
#include "common/rules/address.hpp"
#include "common/rules/filter_rules.hpp"

namespace ft::client {

struct UploadOptions {
  std::vector<std::string> files;  // local paths as given (a trailing '/' kept), in order
  RemoteSpec remote;               // remote.path is the destination directory
  UploadSettings settings;
  int retries = kDefaultRetries;  // new connections after a lost one
  bool recursive = false;         // -r
  ArchiveOptions archive;         // links, -a, --owner, --group, -X, -A
  bool checksum = false;          // --checksum
  bool ignore_existing = false;   // --ignore-existing
  bool dry_run = false;           // --dry-run
  FilterSet filters;              // -r: --exclude, --include, --files-from, ...
  DeleteOptions deletes;          // -r: --delete, --delete-excluded, --max-delete
  std::string link_dest;          // -r: --link-dest REMOTE_DIR ("" for none)
  /// One FILE onto HOST/NAME (no trailing '/'): scp's rule. NAME is the
  /// remote file's name unless the server says (STAT) it is a directory.
  bool target_may_be_file = false;
};

/// The remote path a local file is uploaded to: `dir` + "/" + its basename
/// (just the basename when `dir` is the root "").
std::string remote_path_for(const std::string& dir, const std::string& local);

class TransferReport;

/// Uploads every file (FILE... mode), reporting each event; returns the
/// exit status.
int run_upload(const UploadOptions& options, TransferReport& report);

}  // namespace ft::client
