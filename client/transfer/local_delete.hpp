#pragma once
// ftget -r --delete's deletion phase (docs/client.md, "Mirrors"): removes
// from the local destination what the server's tree lacks, after every
// transfer of the run succeeded. Every directory is opened from the
// destination one component at a time without following a symbolic link,
// and a link is removed itself, never what it points to: nothing outside
// the destination is touched whatever its tree holds.
#include <string>

#include "client/transfer/delete_plan.hpp"

namespace ft::client {

class TransferReport;

/// Lists the plan's directories, then removes its names (files and links,
/// then directories deepest first) below `destination_fd`, each parent
/// directory synced once at the end; with `dry_run` only reports them.
/// Paths in the plan are relative to `destination_fd`.
void run_local_delete(int destination_fd, DeletePlan& plan, const DeleteOptions& options,
                      bool dry_run, TransferReport& report);

}  // namespace ft::client
