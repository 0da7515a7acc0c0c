#pragma once
// `ftserve keys add|list|remove`: manages the server's keys file
// (docs/server.md, "Keys"). The file is only ever replaced whole (a
// private temporary file, fsynced, then renamed or linked into place).

namespace ft::server {

/// Runs `ftserve keys ...` (argv[0] is "keys"); returns the exit status.
int run_keys_command(int argc, char** argv);

}  // namespace ft::server
