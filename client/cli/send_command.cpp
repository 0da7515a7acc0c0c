#include <algorithm>
#include <map>

#include "client/cli/archive_options.hpp"
#include "client/cli/cli_common.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/delete_options.hpp"
#include "client/cli/delta_options.hpp"
#include "client/cli/filter_options.hpp"
#include "client/net/server_list.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/stream_transfer.hpp"
#include "client/transfer/tree_upload.hpp"
#include "client/transfer/upload.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftsend";

constexpr const char* kDetails =
    "Sends each FILE over one connection into REMOTE_DIR on the server (the root\n"
    "when omitted; created if missing), keeping its base name. PORT defaults to 7070;\n"
    "write an IPv6 address in brackets: [::1]:7070/dir.\n"
    "One FILE onto HOST/NAME follows scp's rule: into NAME when NAME is a remote\n"
    "directory, else as the file NAME (ftsend a.txt host/b.txt makes b.txt);\n"
    "HOST/NAME/ with a trailing slash always means the directory NAME.\n"
    "\n"
    "With -r, a directory DIR is sent as REMOTE_DIR/DIR/... (like cp -r and scp -r);\n"
    "DIR/ with a trailing slash sends its contents into REMOTE_DIR (rsync's rule).\n"
    "Empty directories are created; permission bits and mtimes are kept. A file\n"
    "whose remote copy has the same size and mtime is skipped (--checksum compares\n"
    "XXH3-128 instead; --ignore-existing never overwrites). Symbolic links go as\n"
    "links, their targets verbatim (--no-links skips them), hard links stay hard\n"
    "links and holes of sparse files are not sent, when the server supports it.\n"
    "-a (archive) adds exact modes and, when the server sets them, owners and\n"
    "groups; -X and -A add extended attributes and ACLs. Sockets, FIFOs and\n"
    "devices are skipped. Needs a server with directory-tree support.\n"
    "\n"
    "Filters (-r): --exclude and --include take rsync's patterns, matched against\n"
    "paths relative to each DIR; the first matching rule decides, and an excluded\n"
    "directory is not entered. See docs/client.md, \"Filters\".\n"
    "\n"
    "Mirrors (-r --delete): once every transfer succeeded, remote names the source\n"
    "lacks are deleted inside the sent tree (files and links, then directories,\n"
    "deepest first); excluded names are kept unless --delete-excluded. A run with\n"
    "any failure deletes nothing. The server must grant the 'delete' right.\n"
    "\n"
    "Nothing appears under a remote name before the whole file arrived and passed\n"
    "its checksums. When the server supports resuming, an interrupted upload\n"
    "continues from the last verified byte: on a new connection after a lost one\n"
    "(up to --retries times, waiting 0.2 s, then twice as long each time, at most\n"
    "5 s), or when the same command runs again later. A file that changes while it\n"
    "is sent fails with exit status 3 and nothing is committed.\n"
    "\n"
    "FILE - reads standard input until its end and sends it as the file NAME of\n"
    "HOST/DIR/NAME (tar c dir | ftsend - host/backups/dir.tar): verified like any\n"
    "other upload, committed only when whole, but not resumable.\n";

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "Send files or directory trees to an ft server.",
                  "ftsend [OPTIONS] [-r] FILE|DIR... HOST[:PORT][/REMOTE_DIR]", kDetails, true);
  UploadOptions options;
  Verbosity verbosity = Verbosity::kNormal;
  OutputFlags output;
  std::vector<std::string> args;
  std::uint64_t chunk_size = limits::kDefaultChunkSize;
  cli.app()
      .add_option("FILE... DESTINATION", args,
                  "Local files (directories with -r), then the destination "
                  "HOST[:PORT][/REMOTE_DIR]")
      ->required()
      ->type_name("");
  cli.app()
      .add_option("--chunk-size", chunk_size,
                  "Bytes per DATA frame, " + std::to_string(limits::kMinChunkSize) + " to " +
                      std::to_string(limits::kMaxChunkSize) + " (suffixes K, M: 64K, 1M)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  add_retries_option(cli.app(), options.retries);
  std::string key_file;
  add_key_option(cli.app(), key_file);
  std::string bwlimit;
  add_bwlimit_option(cli.app(), bwlimit);
  CompressOptions compress;
  add_compress_options(cli.app(), compress, true);
  cli.app().add_flag("-r,--recursive", options.recursive, "Send directory trees");
  add_archive_options(cli.app(), options.archive, options.recursive);
  auto* checksum = cli.app().add_flag("--checksum", options.checksum,
                                      "With -r: skip files whose XXH3-128 matches the remote one");
  cli.app()
      .add_flag("--ignore-existing", options.ignore_existing,
                "With -r: never overwrite a remote file")
      ->excludes(checksum);
  DeltaFlags delta_flags;
  add_delta_options(cli.app(), delta_flags, true);
  cli.app().add_flag("-n,--dry-run", options.dry_run,
                     "Print what would be sent, skipped or refused; change nothing");
  FilterOptions filter_options;
  add_filter_options(cli.app(), filter_options, true);
  DeleteFlags delete_flags;
  add_delete_options(cli.app(), delete_flags, "on the server");
  cli.app()
      .add_option("--link-dest", options.link_dest,
                  "With -r: hard-link (on the server) files unchanged against this remote "
                  "directory (a previous snapshot) instead of sending them")
      ->type_name("REMOTE_DIR");
  add_output_options(cli.app(), output);
  cli.add_verbosity(verbosity);
  if (auto status = cli.parse(argc, argv)) return *status;

  if (args.size() < 2) return usage_error(kProgram, "need at least one FILE and a destination");
  // Before the checks below: a profile may set --chunk-size, --checksum, ...
  if (auto status = cli.use_profile(args.back(), key_file)) return *status;
  if (chunk_size < limits::kMinChunkSize || chunk_size > limits::kMaxChunkSize) {
    return usage_error(kProgram, cli.where("--chunk-size") + "--chunk-size must be between " +
                                     std::to_string(limits::kMinChunkSize) + " and " +
                                     std::to_string(limits::kMaxChunkSize));
  }
  if (!options.recursive &&
      (archive_given(options.archive) || options.checksum || options.ignore_existing)) {
    return usage_error(kProgram,
                       "--owner, --group, -X, -A, --checksum and --ignore-existing need -r");
  }
  if (!options.recursive && filters_given(filter_options)) {
    return usage_error(kProgram,
                       "--exclude, --include, --exclude-from, --files-from and --ftignore need -r");
  }
  int status = 0;
  auto filters = build_filter_set(kProgram, cli.app(), filter_options, status);
  if (!filters) return status;
  options.filters = std::move(*filters);
  auto deletes = build_delete_options(kProgram, options.recursive, delete_flags, status);
  if (!deletes) return status;
  options.deletes = *deletes;
  if (!options.link_dest.empty()) {
    if (!options.recursive) return usage_error(kProgram, "--link-dest needs -r");
    while (options.link_dest.size() > 1 && options.link_dest.back() == '/') {
      options.link_dest.pop_back();
    }
    while (options.link_dest.starts_with("/")) options.link_dest.erase(0, 1);
    if (auto violation = path_violation(options.link_dest, false)) {
      return usage_error(kProgram,
                         "bad --link-dest '" + printable(options.link_dest) + "': " + *violation);
    }
  }
  if (auto status = cli.add_profile_excludes(options.filters, options.recursive)) return *status;
  options.settings.chunk_size = static_cast<std::uint32_t>(chunk_size);
  options.settings.delta = delta_flags.mode();
  std::string why;
  auto remote = parse_remote(args.back(), why);
  if (!remote) {
    return usage_error(kProgram, "bad destination '" + printable(args.back()) + "': " + why);
  }
  if (auto violation = path_violation(remote->path, true, NameRules::kAnyBytes)) {
    return usage_error(kProgram,
                       "bad remote directory '" + printable(remote->path) + "': " + *violation);
  }
  options.remote = *remote;
  use_servers(*remote);
  if (std::find(args.begin(), args.end() - 1, "-") != args.end() - 1) {
    if (args.size() != 2 || options.recursive) {
      return usage_error(kProgram, "- (standard input) is sent alone, without -r");
    }
    if (options.remote.path.empty() || args.back().ends_with("/")) {
      return usage_error(kProgram,
                         "- (standard input) needs the remote file's name: HOST/DIR/NAME");
    }
    if (options.dry_run) return usage_error(kProgram, "--dry-run cannot read standard input");
    TransferReport report(ReportOptions{.program = kProgram,
                                        .verbosity = verbosity,
                                        .json = output.json,
                                        .progress = wants_progress(output, verbosity),
                                        .stats = output.stats,
                                        .human_readable = output.human_readable});
    if (auto status = load_key(kProgram, key_file)) return *status;
    return run_stream_upload(
        StreamUploadOptions{.remote = options.remote, .chunk_size = options.settings.chunk_size},
        report);
  }
  // scp's rule for one file: HOST/NAME names the file unless NAME is a
  // remote directory; HOST/NAME/ always names a directory.
  options.target_may_be_file = !options.recursive && args.size() == 2 &&
                               !options.remote.path.empty() && !args.back().ends_with("/");
  args.pop_back();
  if (!options.recursive) {
    // Two files with the same base name would race for one remote name.
    std::map<std::string, std::string> seen;
    for (const std::string& file : args) {
      auto [at, fresh] = seen.emplace(remote_path_for(options.remote.path, file), file);
      if (!fresh) {
        return usage_error(kProgram, "'" + printable(at->second) + "' and '" + printable(file) +
                                         "' would both be sent to '" + printable(at->first) + "'");
      }
    }
  }
  options.files = std::move(args);
  TransferReport report(ReportOptions{.program = kProgram,
                                      .receiving = false,
                                      .verbosity = verbosity,
                                      .json = output.json,
                                      .progress = wants_progress(output, verbosity),
                                      .dry_run = options.dry_run,
                                      .stats = output.stats,
                                      .human_readable = output.human_readable});
  if (auto status = load_key(kProgram, key_file)) return *status;
  if (auto status = apply_bwlimit(kProgram, bwlimit, cli.where("--bwlimit"))) return *status;
  if (auto status = apply_compress(kProgram, compress)) return *status;
  return options.recursive ? run_tree_upload(options, report) : run_upload(options, report);
}

}  // namespace

int ftsend_main(int argc, char** argv) {
  return guarded_main(kProgram, run, argc, argv);
}

}  // namespace ft::client
