#pragma once
// The options of faithful tree copies, the same for ftsend and ftget:
// -a/--archive, --owner, --group, -X/--xattrs, -A/--acls, --links and
// --no-links (docs/client.md, "Faithful trees").
#include <CLI/CLI.hpp>

#include "client/transfer/tree_archive.hpp"

namespace ft::client {

/// Adds the options to `app`, filling `target`; -a also turns on
/// `recursive`, as in rsync.
void add_archive_options(CLI::App& app, ArchiveOptions& target, bool& recursive);
/// True if an option that needs -r was given (links aside).
bool archive_given(const ArchiveOptions& options);

}  // namespace ft::client
