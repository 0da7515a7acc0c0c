#pragma once
// ftget's work: download remote files (or with -r whole trees) into one
// local directory over one connection, pipelining the GET requests,
// verifying every byte before a file appears under its final name. Partial
// files are kept across lost connections and runs, and resumed with a GET
// from their length.
#include <string>
#include <vector>

#include "client/report/console.hpp"
#include "client/transfer/delete_plan.hpp"
#include "client/transfer/delta_mode.hpp"
#include "client/transfer/retry.hpp"
#include "client/transfer/tree_archive.hpp"
#include "common/rules/address.hpp"
#include "common/rules/filter_rules.hpp"

namespace ft::client {

class TransferReport;

struct DownloadOptions {
  std::string host;
  std::uint16_t port = kDefaultPort;
  std::vector<std::string> paths;      // remote paths, in argument order
  std::vector<bool> contents_only;     // -r: the argument ended in '/' (copy the contents)
  std::string local_dir = ".";         // created if missing
  int retries = kDefaultRetries;       // new connections after a lost one
  bool recursive = false;              // -r
  ArchiveOptions archive;              // links, -a, --owner, --group, -X, -A
  bool dry_run = false;                // --dry-run
  FilterSet filters;                   // -r: --exclude, --include, --files-from, ...
  DeleteOptions deletes;               // -r: --delete, --delete-excluded, --max-delete
  DeltaMode delta = DeltaMode::kAuto;  // --delta, --no-delta
};

/// The last component of a remote path: the local file name it lands as.
std::string local_name_for(const std::string& remote_path);

/// Downloads every file (REMOTE_PATH... mode), reporting each event;
/// returns the exit status.
int run_download(const DownloadOptions& options, TransferReport& report);

}  // namespace ft::client
