// The ftls executable; the command lives in the ft_client library.
#include "client/cli/commands.hpp"

int main(int argc, char** argv) {
  return ft::client::ftls_main(argc, argv);
}
