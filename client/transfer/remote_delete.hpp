#pragma once
// ftsend -r --delete's deletion phase (docs/client.md, "Mirrors"): on a
// connection of its own, after every transfer of the run succeeded, it
// lists the remote directories the plan holds (pipelined LISTs), then
// sends DELETE (protocol section 5.7) for the files and links, pipelined,
// then for the directories, one depth at a time from the deepest, each
// depth once the one below it answered.
#include <optional>
#include <string>

#include "client/transfer/delete_plan.hpp"
#include "common/rules/address.hpp"
#include "common/rules/errors.hpp"

namespace ft::client {

class TransferReport;

/// Runs the phase: every deletion (or, with `dry_run`, what would be
/// deleted) is reported; --max-delete cuts the plan. Returns the
/// connection-level failure, if any.
std::optional<Error> run_remote_delete(const RemoteSpec& remote, DeletePlan& plan,
                                       const DeleteOptions& options, bool dry_run,
                                       TransferReport& report);

}  // namespace ft::client
