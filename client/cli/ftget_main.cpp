// The ftget executable; the command lives in the ft_client library.
#include <sys/resource.h>

#include "client/cli/commands.hpp"

int main(int argc, char** argv) {
  // Every download in flight holds its partial file open until its commit:
  // take the hard limit of descriptors, which is ours to take (the window
  // shrinks to what is left, GetPipeline::has_room()).
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  return ft::client::ftget_main(argc, argv);
}
