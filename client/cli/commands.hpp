#pragma once
// The three client commands as functions, so that the executables stay thin
// and tests can run a command in-process. Each parses its arguments, does
// its work and returns the exit status; no exception escapes.
namespace ft::client {

int ftsend_main(int argc, char** argv);
int ftget_main(int argc, char** argv);
int ftls_main(int argc, char** argv);

}  // namespace ft::client
