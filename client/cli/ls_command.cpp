#include "client/cli/cli_common.hpp"
#include "client/cli/commands.hpp"
#include "client/net/server_list.hpp"
#include "client/transfer/listing.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftls";

constexpr const char* kDetails =
    "Lists DIR on the server (the root when omitted), one name per line,\n"
    "directories with a trailing '/'. If DIR is a file, shows that file.\n"
    "-l shows mode, size, modification time (local) and name, and a link's\n"
    "target (name -> target); -h writes sizes as 1.5K, 17M. --json prints one\n"
    "object per line: {\"name\",\"type\":\"file|dir|symlink|other\",\"size\",\n"
    "\"mtime_ns\",\"mode\"} (and \"target\" for a link), and a failure in the\n"
    "stream as {\"type\":\"error\",\"path\",\"code\",\"message\"} (also on stderr).\n"
    "-r lists the whole tree depth first, as paths relative to DIR (dir/sub/file).\n"
    "PORT defaults to 7070; IPv6 in brackets: [::1]:7070/dir.\n";

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "List a directory on an ft server.", "ftls [OPTIONS] HOST[:PORT][/DIR]",
                  kDetails, false);
  std::string target;
  bool long_form = false;
  bool json = false;
  cli.app().add_option("DESTINATION", target, "HOST[:PORT][/DIR]")->required()->type_name("");
  auto* l = cli.app().add_flag("-l,--long", long_form, "Long form: mode, size, mtime, name");
  auto* j = cli.app().add_flag("--json", json, "One JSON object per entry and line");
  bool recursive = false;
  cli.app().add_flag("-r,--recursive", recursive, "List the whole tree below DIR");
  bool human = false;
  add_human_readable_option(cli.app(), human);
  std::string key_file;
  add_key_option(cli.app(), key_file);
  std::string bwlimit;
  add_bwlimit_option(cli.app(), bwlimit);
  l->excludes(j);
  if (auto status = cli.parse(argc, argv)) return *status;

  if (auto status = cli.use_profile(target, key_file)) return *status;
  ListOptions options;
  options.recursive = recursive;
  options.human_readable = human;
  options.format = json ? ListFormat::kJson : long_form ? ListFormat::kLong : ListFormat::kNames;
  std::string why;
  auto remote = parse_remote(target, why);
  if (!remote) {
    return usage_error(kProgram, "bad destination '" + printable(target) + "': " + why);
  }
  if (auto violation = path_violation(remote->path, true)) {
    return usage_error(kProgram,
                       "bad remote path '" + printable(remote->path) + "': " + *violation);
  }
  options.remote = *remote;
  use_servers(*remote);
  if (auto status = load_key(kProgram, key_file)) return *status;
  if (auto status = apply_bwlimit(kProgram, bwlimit, cli.where("--bwlimit"))) return *status;
  return run_list(options);
}

}  // namespace

int ftls_main(int argc, char** argv) {
  return guarded_main(kProgram, run, argc, argv);
}

}  // namespace ft::client
