#pragma once
// ftls's work: list a remote directory (or describe a remote file), or with
// -r the whole tree below it, and print the entries.
#include <string>

#include "client/report/entry_format.hpp"
#include "common/rules/address.hpp"

namespace ft::client {

struct ListOptions {
  RemoteSpec remote;  // remote.path: "" for the root
  ListFormat format = ListFormat::kNames;
  bool recursive = false;       // -r: paths relative to the listed directory, depth first
  bool human_readable = false;  // -h: sizes as "1.5K" in the long form
};

/// Lists, prints to stdout, reports failures to stderr (and with --json
/// also to stdout, in the stream, as error_json() objects); returns the
/// exit status.
int run_list(const ListOptions& options);

}  // namespace ft::client
