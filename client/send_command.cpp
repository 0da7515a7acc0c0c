#include <exception>
#include <map>

#include "cli_common.hpp"
#include "commands.hpp"
#include "path_rules.hpp"
#include "upload.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftsend";

constexpr const char* kDetails =
    "Sends each FILE over one connection into REMOTE_DIR on the server (the root\n"
    "when omitted; created if missing), keeping its base name. PORT defaults to 7070;\n"
    "write an IPv6 address in brackets: [::1]:7070/dir.\n"
    "\n"
    "Nothing appears under a remote name before the whole file arrived and passed\n"
    "its checksums. When the server supports resuming, an interrupted upload\n"
    "continues from the last verified byte: on a new connection after a lost one\n"
    "(up to --retries times, waiting 0.2 s, then twice as long each time, at most\n"
    "5 s), or when the same command runs again later. The server keeps the partial\n"
    "data only for the same file: same remote path, size, mtime and local file\n"
    "(host name, device and inode). A chunk damaged on the way is sent again. A\n"
    "file that changes while it is sent fails with exit status 3 and nothing is\n"
    "committed. Files that failed for another reason are not retried.\n";

int usage_error(const std::string& message) {
  report_message(kProgram, message);
  return static_cast<int>(Exit::kUsage);
}

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "Send files to an ft server.",
                  "ftsend [OPTIONS] FILE... HOST[:PORT][/REMOTE_DIR]", kDetails, true);
  UploadOptions options;
  std::vector<std::string> args;
  std::uint64_t chunk_size = limits::kDefaultChunkSize;
  cli.app()
      .add_option("FILE... DESTINATION", args,
                  "Local files, then the destination HOST[:PORT][/REMOTE_DIR]")
      ->required()
      ->type_name("");
  cli.app()
      .add_option("--chunk-size", chunk_size,
                  "Bytes per DATA frame, " + std::to_string(limits::kMinChunkSize) + " to " +
                      std::to_string(limits::kMaxChunkSize) + " (suffixes K, M: 64K, 1M)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cli.app()
      .add_option("--retries", options.retries,
                  "New connections after a lost one (0 to " + std::to_string(kMaxRetries) +
                      "; 0 fails at once)")
      ->check(CLI::Range(0, kMaxRetries))
      ->capture_default_str();
  cli.add_verbosity(options.verbosity);
  if (auto status = cli.parse(argc, argv)) return *status;

  if (args.size() < 2) return usage_error("need at least one FILE and a destination");
  if (chunk_size < limits::kMinChunkSize || chunk_size > limits::kMaxChunkSize) {
    return usage_error("--chunk-size must be between " + std::to_string(limits::kMinChunkSize) +
                       " and " + std::to_string(limits::kMaxChunkSize));
  }
  options.chunk_size = static_cast<std::uint32_t>(chunk_size);
  std::string why;
  auto remote = parse_remote(args.back(), why);
  if (!remote) return usage_error("bad destination '" + printable(args.back()) + "': " + why);
  if (auto violation = path_violation(remote->path, true)) {
    return usage_error("bad remote directory '" + printable(remote->path) + "': " + *violation);
  }
  options.remote = *remote;
  args.pop_back();
  // Two files with the same base name would race for one remote name.
  std::map<std::string, std::string> seen;
  for (const std::string& file : args) {
    auto [at, fresh] = seen.emplace(remote_path_for(options.remote.path, file), file);
    if (!fresh) {
      return usage_error("'" + printable(at->second) + "' and '" + printable(file) +
                         "' would both be sent to '" + printable(at->first) + "'");
    }
  }
  options.files = std::move(args);
  return run_upload(options);
}

}  // namespace

int ftsend_main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    report_message(kProgram, std::string("internal error: ") + e.what());
  } catch (...) {
    report_message(kProgram, "internal error");
  }
  return static_cast<int>(Exit::kFailure);
}

}  // namespace ft::client
