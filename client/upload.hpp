#pragma once
// ftsend's work: upload local files into one remote directory over one
// connection, pipelining the PUT requests; resumable uploads, rewinds and
// retries on a new connection when the server speaks RESUME (protocol 5.4).
#include <cstdint>
#include <string>
#include <vector>

#include "address.hpp"
#include "cli_common.hpp"
#include "limits.hpp"
#include "retry.hpp"

namespace ft::client {

struct UploadOptions {
  std::vector<std::string> files;  // local paths, in argument order
  RemoteSpec remote;               // remote.path is the destination directory
  std::uint32_t chunk_size = limits::kDefaultChunkSize;
  Verbosity verbosity = Verbosity::kNormal;
  int retries = kDefaultRetries;  // new connections after a lost one
};

/// The remote path a local file is uploaded to: `dir` + "/" + its basename
/// (just the basename when `dir` is the root "").
std::string remote_path_for(const std::string& dir, const std::string& local);

/// The source_id of a resumable upload: "<hostname>:<st_dev>:<st_ino>",
/// cut to the protocol's 255 bytes.
std::string source_id_for(std::uint64_t device, std::uint64_t inode);

/// Uploads every file, printing each failure to stderr; returns the exit
/// status (0, or that of the first failed file in argument order).
int run_upload(const UploadOptions& options);

}  // namespace ft::client
