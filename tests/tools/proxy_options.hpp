#pragma once
// ft_test_proxy's command line (the options are described at the top of
// ft_test_proxy.cpp): parsing, and the rule that the target is loopback.
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace proxy {

struct Options {
  sockaddr_storage target{};
  socklen_t target_length = 0;
  std::string target_text;
  std::optional<std::uint64_t> flip_upstream;
  std::optional<std::uint64_t> flip_downstream;
  std::optional<std::uint64_t> cut_after;
  std::optional<std::uint64_t> cut_downstream_after;
  std::optional<std::uint64_t> stall_after;
  std::optional<std::uint64_t> stall_downstream_after;
  std::optional<std::uint64_t> flip_every;
  std::optional<std::uint64_t> flip_bit;            // 0..7: flip one bit, not the whole byte
  std::optional<std::uint64_t> rate;                // bytes per second each way (all connections)
  std::optional<std::uint64_t> clear_capabilities;  // bits cleared in every client hello
  std::string record_path;
  std::string record_downstream_path;
  std::string replay_path;
};

/// Prints the usage lines on stderr.
void usage(const char* program);
/// Parses `--name VALUE` and `--name=VALUE`. Returns nullopt on a usage error
/// (said on stderr), or for --help.
std::optional<Options> parse_options(int argc, char** argv);

/// --replay: sends the file's bytes on one connection and waits (10 s at
/// most) for the server to close it; 0 if it did, 1 otherwise.
int replay(const Options& options);

}  // namespace proxy
