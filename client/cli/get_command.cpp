#include <map>

#include "client/cli/cli_common.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/filter_options.hpp"
#include "client/local/local_dir.hpp"
#include "client/net/connection.hpp"
#include "client/net/server_list.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/download.hpp"
#include "client/transfer/retry.hpp"
#include "client/transfer/tree_download.hpp"
#include "common/rules/path_rules.hpp"

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
    "LOCAL_DIR: with two or more arguments, the last one is LOCAL_DIR with -r, or if it names\n"
    "an existing local directory, or is \".\" or \"..\", or starts with \"/\", \"./\" or\n"
    "\"../\"; otherwise every argument is a remote file and LOCAL_DIR is \".\".\n"
    "A missing LOCAL_DIR is created. All remote files must be on the same\n"
    "HOST[:PORT] (PORT defaults to 7070; IPv6 in brackets: [::1]:7070/file).\n"
    "\n"
    "With -r, HOST/DIR lands as LOCAL_DIR/DIR/... and HOST/DIR/ (trailing slash)\n"
    "puts the contents of DIR into LOCAL_DIR. Empty directories are created; modes\n"
    "and mtimes are kept. A local file with the remote size and mtime is skipped.\n"
    "Symbolic links are skipped unless --links, which recreates them when their\n"
    "target stays inside the tree. Every name from the server is checked and\n"
    "nothing is ever written outside LOCAL_DIR.\n"
    "\n"
    "Filters (-r): --exclude and --include take rsync's patterns, matched against\n"
    "paths relative to each remote DIR; the first matching rule decides, and an\n"
    "excluded directory is not entered. See docs/client.md, \"Filters\".\n";

bool names_local_dir(const std::string& arg) {
  return arg == "." || arg == ".." || arg.starts_with("/") || arg.starts_with("./") ||
         arg.starts_with("../") || is_existing_directory(arg);
}

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "Fetch files or directory trees from an ft server.",
                  "ftget [OPTIONS] [-r] HOST[:PORT]/REMOTE_PATH... [LOCAL_DIR]", kDetails, true);
  DownloadOptions options;
  Verbosity verbosity = Verbosity::kNormal;
  OutputFlags output;
  std::vector<std::string> args;
  cli.app()
      .add_option("REMOTE... LOCAL_DIR", args,
                  "Remote files HOST[:PORT]/REMOTE_PATH, then optionally LOCAL_DIR")
      ->required()
      ->type_name("");
  add_retries_option(cli.app(), options.retries);
  std::string key_file;
  add_key_option(cli.app(), key_file);
  cli.app().add_flag("-r,--recursive", options.recursive, "Fetch directory trees");
  cli.app().add_flag("--links", options.links,
                     "With -r: recreate symbolic links (target inside the tree)");
  cli.app().add_flag("-n,--dry-run", options.dry_run,
                     "Print what would be received, skipped or refused; change nothing");
  FilterOptions filter_options;
  add_filter_options(cli.app(), filter_options, false);
  add_output_options(cli.app(), output);
  cli.add_verbosity(verbosity);
  if (auto status = cli.parse(argc, argv)) return *status;

  if (!options.recursive && options.links) return usage_error(kProgram, "--links needs -r");
  if (!options.recursive && filters_given(filter_options)) {
    return usage_error(kProgram, "--exclude, --include, --exclude-from and --files-from need -r");
  }
  int status = 0;
  auto filters = build_filter_set(kProgram, cli.app(), filter_options, status);
  if (!filters) return status;
  options.filters = std::move(*filters);
  if (args.size() >= 2 && (options.recursive || names_local_dir(args.back()))) {
    options.local_dir = args.back();
    args.pop_back();
  }
  std::map<std::string, std::string> seen;  // local name -> remote path
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (auto status = cli.use_profile(args[i], key_file)) return *status;
    std::string why;
    auto remote = parse_remote(args[i], why);
    if (!remote)
      return usage_error(kProgram, "bad remote file '" + printable(args[i]) + "': " + why);
    if (i == 0) {
      options.host = remote->host;
      options.port = remote->port;
      use_servers(*remote);
    } else if (remote->host != options.host || remote->port != options.port) {
      std::string hint;
      if (i + 1 == args.size() && args[i].find('/') == std::string::npos) {
        hint = "; to fetch into a new local directory, write it as ./" + printable(args[i]);
      }
      return usage_error(kProgram, "all remote files must be on the same host and port (" +
                                       printable(host_port_text(options.host, options.port)) + ")" +
                                       hint);
    }
    if (remote->path.empty() && !options.recursive) {
      return usage_error(kProgram, "'" + printable(args[i]) + "' names no remote file");
    }
    if (auto violation = path_violation(remote->path, options.recursive)) {
      return usage_error(kProgram,
                         "bad remote path '" + printable(remote->path) + "': " + *violation);
    }
    const bool contents = args[i].ends_with("/") || remote->path.empty();
    auto [at, fresh] = seen.emplace(contents ? "" : local_name_for(remote->path), remote->path);
    if (!fresh && !(options.recursive && contents)) {
      return usage_error(kProgram, "'" + printable(at->second) + "' and '" +
                                       printable(remote->path) + "' would both land as '" +
                                       printable(at->first) + "'");
    }
    options.paths.push_back(remote->path);
    options.contents_only.push_back(contents);
  }
  if (auto status = cli.add_profile_excludes(options.filters, options.recursive)) return *status;
  TransferReport report(ReportOptions{.program = kProgram,
                                      .receiving = true,
                                      .verbosity = verbosity,
                                      .json = output.json,
                                      .progress = wants_progress(output, verbosity),
                                      .dry_run = options.dry_run,
                                      .stats = output.stats,
                                      .human_readable = output.human_readable});
  if (auto status = load_key(kProgram, key_file)) return *status;
  return options.recursive ? run_tree_download(options, report) : run_download(options, report);
}

}  // namespace

int ftget_main(int argc, char** argv) {
  return guarded_main(kProgram, run, argc, argv);
}

}  // namespace ft::client
