#pragma once
// SIGINT and SIGTERM for the clients: instead of dying with a temporary file
// left behind, the command notices the signal at its next wait, fails the
// transfers in progress (cleaning up after them) and exits with status 1.
namespace ft::client {

/// Installs the handlers (without SA_RESTART, so poll() returns EINTR),
/// unless the signal is ignored already, and ignores SIGPIPE. Idempotent.
void install_interrupt_handlers();
/// True once SIGINT or SIGTERM arrived.
bool interrupted();

}  // namespace ft::client
