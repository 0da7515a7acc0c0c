#pragma once
// ftget's work: download remote files into one local directory over one
// connection, pipelining the GET requests, verifying every byte before a
// file appears under its final name. Partial files are kept across lost
// connections and runs, and resumed with a GET from their length.
#include <string>
#include <vector>

#include "address.hpp"
#include "cli_common.hpp"
#include "retry.hpp"

namespace ft::client {

struct DownloadOptions {
  std::string host;
  std::uint16_t port = kDefaultPort;
  std::vector<std::string> paths;  // remote paths, in argument order
  std::string local_dir = ".";     // created if missing
  Verbosity verbosity = Verbosity::kNormal;
  int retries = kDefaultRetries;  // new connections after a lost one
};

/// The last component of a remote path: the local file name it lands as.
std::string local_name_for(const std::string& remote_path);

/// Downloads every file, printing each failure to stderr; returns the exit
/// status (0, or that of the first failed file in argument order).
int run_download(const DownloadOptions& options);

}  // namespace ft::client
