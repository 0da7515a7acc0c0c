#pragma once
// --delta and --no-delta of ftsend and ftget (docs/client.md, "Delta
// transfers"): one pair of flags, worded for the direction.
#include <CLI/CLI.hpp>

#include "client/transfer/delta_mode.hpp"

namespace ft::client {

/// What the flags gave; mode() once parsed.
struct DeltaFlags {
  bool always = false;  // --delta
  bool never = false;   // --no-delta
  DeltaMode mode() const {
    return always ? DeltaMode::kAlways : never ? DeltaMode::kNever : DeltaMode::kAuto;
  }
};

/// Adds --delta and --no-delta (which exclude each other) to `app`;
/// `upload` words the help for ftsend (the server's older copy) rather than
/// ftget (the local one).
void add_delta_options(CLI::App& app, DeltaFlags& target, bool upload);

}  // namespace ft::client
