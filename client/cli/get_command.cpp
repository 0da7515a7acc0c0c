#include <sys/stat.h>

#include <map>

#include "client/cli/archive_options.hpp"
#include "client/cli/cli_common.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/delete_options.hpp"
#include "client/cli/delta_options.hpp"
#include "client/cli/filter_options.hpp"
#include "client/local/local_dir.hpp"
#include "client/net/connection.hpp"
#include "client/net/server_list.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/download.hpp"
#include "client/transfer/retry.hpp"
#include "client/transfer/stream_transfer.hpp"
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
    "Symbolic links are recreated as they are (--no-links skips them), hard links\n"
    "stay hard links and holes stay holes, when the server supports it. -a adds\n"
    "exact modes and, as root, owners and groups; -X and -A add extended\n"
    "attributes and ACLs. Every name from the server is checked and nothing is\n"
    "ever written outside LOCAL_DIR (no link is ever followed).\n"
    "\n"
    "Filters (-r): --exclude and --include take rsync's patterns, matched against\n"
    "paths relative to each remote DIR; the first matching rule decides, and an\n"
    "excluded directory is not entered. See docs/client.md, \"Filters\".\n"
    "\n"
    "Mirrors (-r --delete): once every transfer succeeded, local names inside the\n"
    "fetched tree that the server's tree lacks are deleted (files and links, then\n"
    "directories, deepest first); excluded names are kept unless --delete-excluded.\n"
    "A run with any failure deletes nothing.\n"
    "\n"
    "LOCAL_DIR - writes the one remote file to standard output (ftget host/x.tar - |\n"
    "tar x): each chunk is verified before it is written; if the whole-file check\n"
    "fails at the end, the exit status is 7 and the output must not be used.\n";

bool exists_as_non_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

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
  std::string bwlimit;
  add_bwlimit_option(cli.app(), bwlimit);
  CompressOptions compress;
  add_compress_options(cli.app(), compress, false);
  cli.app().add_flag("-r,--recursive", options.recursive, "Fetch directory trees");
  add_archive_options(cli.app(), options.archive, options.recursive);
  DeltaFlags delta_flags;
  add_delta_options(cli.app(), delta_flags, false);
  cli.app().add_flag("-n,--dry-run", options.dry_run,
                     "Print what would be received, skipped or refused; change nothing");
  FilterOptions filter_options;
  add_filter_options(cli.app(), filter_options, false);
  DeleteFlags delete_flags;
  add_delete_options(cli.app(), delete_flags, "locally (inside LOCAL_DIR)");
  add_output_options(cli.app(), output);
  cli.add_verbosity(verbosity);
  if (auto status = cli.parse(argc, argv)) return *status;

  options.delta = delta_flags.mode();
  if (!options.recursive && archive_given(options.archive)) {
    return usage_error(kProgram, "--owner, --group, -X and -A need -r");
  }
  if (!options.recursive && filters_given(filter_options)) {
    return usage_error(kProgram, "--exclude, --include, --exclude-from and --files-from need -r");
  }
  int status = 0;
  auto filters = build_filter_set(kProgram, cli.app(), filter_options, status);
  if (!filters) return status;
  options.filters = std::move(*filters);
  auto deletes = build_delete_options(kProgram, options.recursive, delete_flags, status);
  if (!deletes) return status;
  options.deletes = *deletes;
  if (args.size() >= 2 && args.back() == "-") {
    if (args.size() != 2 || options.recursive) {
      return usage_error(kProgram, "- (standard output) takes one remote file, without -r");
    }
    if (output.json || options.dry_run) {
      return usage_error(kProgram, "--json and --dry-run cannot share standard output with a file");
    }
    if (auto status = cli.use_profile(args.front(), key_file)) return *status;
    std::string why;
    auto remote = parse_remote(args.front(), why);
    if (!remote) {
      return usage_error(kProgram, "bad remote file '" + printable(args.front()) + "': " + why);
    }
    if (remote->path.empty()) {
      return usage_error(kProgram, "'" + printable(args.front()) + "' names no remote file");
    }
    if (auto violation = path_violation(remote->path, false)) {
      return usage_error(kProgram,
                         "bad remote path '" + printable(remote->path) + "': " + *violation);
    }
    use_servers(*remote);
    TransferReport report(ReportOptions{.program = kProgram,
                                        .receiving = true,
                                        .verbosity = verbosity,
                                        .progress = wants_progress(output, verbosity),
                                        .stats = output.stats,
                                        .human_readable = output.human_readable,
                                        .stdout_is_data = true});
    if (auto status = load_key(kProgram, key_file)) return *status;
    return run_stream_download(StreamDownloadOptions{.remote = *remote, .retries = options.retries},
                               report);
  }
  if (args.size() >= 2 && (options.recursive || names_local_dir(args.back()))) {
    options.local_dir = args.back();
    args.pop_back();
    // ftget writes into a directory: a file, a device or a FIFO there
    // (`ftget host/x /dev/null`, as scp users write) is refused before
    // anything is fetched, with the way to do what was meant.
    if (exists_as_non_directory(options.local_dir)) {
      return usage_error(kProgram, "LOCAL_DIR '" + printable(options.local_dir) +
                                       "' exists and is not a directory; ftget writes into a "
                                       "directory, or one file to standard output with -");
    }
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
    if (auto violation = path_violation(remote->path, options.recursive, NameRules::kAnyBytes)) {
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
  if (auto status = apply_bwlimit(kProgram, bwlimit, cli.where("--bwlimit"))) return *status;
  if (auto status = apply_compress(kProgram, compress)) return *status;
  return options.recursive ? run_tree_download(options, report) : run_download(options, report);
}

}  // namespace

int ftget_main(int argc, char** argv) {
  return guarded_main(kProgram, run, argc, argv);
}

}  // namespace ft::client
