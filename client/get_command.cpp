#include <exception>
#include <map>

#include "commands.hpp"
#include "connection.hpp"
#include "download.hpp"
#include "local_dir.hpp"
#include "path_rules.hpp"
#include "retry.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftget";

constexpr const char* kDetails =
    "Fetches each remote file over one connection into LOCAL_DIR, under its base\n"
    "name. Every file is written to a hidden partial file (.ft-part.NAME, with its\n"
    "record in .ft-part-meta.NAME) first and renamed into place only once its size\n"
    "and checksums are verified.\n"
    "\n"
    "When the connection is lost (or on SIGINT/SIGTERM) the partial file is kept:\n"
    "ftget retries on a new connection up to --retries times (waiting 0.2 s, then\n"
    "twice as long each time, at most 5 s), and running the same command again\n"
    "later continues from where it stopped, provided the remote file still has\n"
    "the same size and mtime (otherwise it starts over and says so). A partial\n"
    "file that fails verification, or whose remote file is refused, is removed.\n"
    "\n"
    "LOCAL_DIR: with two or more arguments, the last one is LOCAL_DIR if it names\n"
    "an existing local directory, or is \".\" or \"..\", or starts with \"/\", \"./\" or\n"
    "\"../\"; otherwise every argument is a remote file and LOCAL_DIR is \".\".\n"
    "A missing LOCAL_DIR is created. All remote files must be on the same\n"
    "HOST[:PORT] (PORT defaults to 7070; IPv6 in brackets: [::1]:7070/file).\n";

int usage_error(const std::string& message) {
  report_message(kProgram, message);
  return static_cast<int>(Exit::kUsage);
}

bool names_local_dir(const std::string& arg) {
  return arg == "." || arg == ".." || arg.starts_with("/") || arg.starts_with("./") ||
         arg.starts_with("../") || is_existing_directory(arg);
}

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "Fetch files from an ft server.",
                  "ftget [OPTIONS] HOST[:PORT]/REMOTE_PATH... [LOCAL_DIR]", kDetails, true);
  DownloadOptions options;
  std::vector<std::string> args;
  cli.app()
      .add_option("REMOTE... LOCAL_DIR", args,
                  "Remote files HOST[:PORT]/REMOTE_PATH, then optionally LOCAL_DIR")
      ->required()
      ->type_name("");
  cli.app()
      .add_option("--retries", options.retries,
                  "New connections after a lost one (0 to " + std::to_string(kMaxRetries) +
                      "; 0 fails at once)")
      ->check(CLI::Range(0, kMaxRetries))
      ->capture_default_str();
  cli.add_verbosity(options.verbosity);
  if (auto status = cli.parse(argc, argv)) return *status;

  if (args.size() >= 2 && names_local_dir(args.back())) {
    options.local_dir = args.back();
    args.pop_back();
  }
  std::map<std::string, std::string> seen;  // local name -> remote path
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string why;
    auto remote = parse_remote(args[i], why);
    if (!remote) return usage_error("bad remote file '" + printable(args[i]) + "': " + why);
    if (i == 0) {
      options.host = remote->host;
      options.port = remote->port;
    } else if (remote->host != options.host || remote->port != options.port) {
      std::string hint;
      if (i + 1 == args.size() && args[i].find('/') == std::string::npos) {
        hint = "; to fetch into a new local directory, write it as ./" + printable(args[i]);
      }
      return usage_error("all remote files must be on the same host and port (" +
                         printable(host_port_text(options.host, options.port)) + ")" + hint);
    }
    if (remote->path.empty()) {
      return usage_error("'" + printable(args[i]) + "' names no remote file");
    }
    if (auto violation = path_violation(remote->path, false)) {
      return usage_error("bad remote path '" + printable(remote->path) + "': " + *violation);
    }
    auto [at, fresh] = seen.emplace(local_name_for(remote->path), remote->path);
    if (!fresh) {
      return usage_error("'" + printable(at->second) + "' and '" + printable(remote->path) +
                         "' would both land as '" + printable(at->first) + "'");
    }
    options.paths.push_back(remote->path);
  }
  return run_download(options);
}

}  // namespace

int ftget_main(int argc, char** argv) {
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
