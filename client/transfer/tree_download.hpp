#pragma once
// ftget -r: mirror remote trees into a local directory over one connection.
// Per directory: one LIST (with link targets for --links), pipelined GETs
// of the files whose local copy differs in size or mtime, local symlinks
// (--links) whose target stays inside the tree, and the directory's mode
// and mtime once everything below is done. Every name the server sends is
// checked before use and every local directory is opened relative to its
// parent without following symbolic links: nothing is written outside
// LOCAL_DIR, whatever the server says.
#include "client/transfer/download.hpp"

namespace ft::client {

class TransferReport;

/// Downloads the trees of options.paths, reporting every event; returns
/// the exit status. Needs the server's TREES capability.
int run_tree_download(const DownloadOptions& options, TransferReport& report);

}  // namespace ft::client
