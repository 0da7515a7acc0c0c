#pragma once
// Pipes: `ftsend - HOST/DIR/NAME` uploads what it reads from standard input
// (its size known only at the end: a STREAM PUT, docs/protocol.md section
// 5.14), and `ftget HOST/PATH -` writes one remote file to standard output.
// Both verify every chunk and the whole file as the other transfers do.
// What a pipe cannot do is take bytes back: an upload that fails leaves
// nothing on the server, but a download that fails after some output was
// written leaves that output with the reader, and the exit status says so
// (docs/client.md, "Pipes").
#include <cstdint>
#include <string>

#include "common/base/limits.hpp"
#include "common/rules/address.hpp"

namespace ft::client {

class TransferReport;

struct StreamUploadOptions {
  RemoteSpec remote;  // remote.path: the file's path on the server
  std::uint32_t chunk_size = limits::kDefaultChunkSize;
  int input_fd = 0;
};

/// Uploads everything `input_fd` holds until its end as one file; returns
/// the exit status. Not retried: the bytes read cannot be read again.
int run_stream_upload(const StreamUploadOptions& options, TransferReport& report);

struct StreamDownloadOptions {
  RemoteSpec remote;  // remote.path: the file to fetch
  int retries = 3;    // a lost connection resumes from the bytes written
  int output_fd = 1;
};

/// Writes the remote file to `output_fd`, each chunk only after its hash
/// was checked; returns the exit status (7 when the whole-file check fails
/// after the bytes were written).
int run_stream_download(const StreamDownloadOptions& options, TransferReport& report);

}  // namespace ft::client
