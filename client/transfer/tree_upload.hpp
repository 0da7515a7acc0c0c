#pragma once
// ftsend -r: walk local trees and mirror them under a remote directory over
// one connection. Per directory: MKDIR (before its content), one LIST of the
// remote directory (the quick check: size and mtime, or XXH3-128 with
// --checksum), pipelined PUTs of the files that differ, SYMLINK for links
// (--links), and MKDIR with SET_MTIME once everything below is done. The
// walk is streamed: only the directories being worked on are in memory.
#include "client/transfer/upload.hpp"

namespace ft::client {

class TransferReport;

/// Uploads the trees (and plain files) of options.files, reporting every
/// event; returns the exit status. Needs the server's TREES capability.
int run_tree_upload(const UploadOptions& options, TransferReport& report);

}  // namespace ft::client
