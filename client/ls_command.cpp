#include <exception>

#include "cli_common.hpp"
#include "commands.hpp"
#include "listing.hpp"
#include "path_rules.hpp"

namespace ft::client {
namespace {

constexpr const char* kProgram = "ftls";

constexpr const char* kDetails =
    "Lists DIR on the server (the root when omitted), one name per line,\n"
    "directories with a trailing '/'. If DIR is a file, shows that file.\n"
    "-l shows mode, size, modification time (local) and name; --json prints one\n"
    "object per line: {\"name\",\"type\":\"file|dir|symlink|other\",\"size\",\n"
    "\"mtime_ns\",\"mode\"}. PORT defaults to 7070; IPv6 in brackets: [::1]:7070/dir.\n";

int run(int argc, char** argv) {
  CommandLine cli(kProgram, "List a directory on an ft server.", "ftls [OPTIONS] HOST[:PORT][/DIR]",
                  kDetails, false);
  std::string target;
  bool long_form = false;
  bool json = false;
  cli.app().add_option("DESTINATION", target, "HOST[:PORT][/DIR]")->required()->type_name("");
  auto* l = cli.app().add_flag("-l,--long", long_form, "Long form: mode, size, mtime, name");
  auto* j = cli.app().add_flag("--json", json, "One JSON object per entry and line");
  l->excludes(j);
  if (auto status = cli.parse(argc, argv)) return *status;

  ListOptions options;
  options.format = json ? ListFormat::kJson : long_form ? ListFormat::kLong : ListFormat::kNames;
  std::string why;
  auto remote = parse_remote(target, why);
  if (!remote) {
    report_message(kProgram, "bad destination '" + printable(target) + "': " + why);
    return static_cast<int>(Exit::kUsage);
  }
  if (auto violation = path_violation(remote->path, true)) {
    report_message(kProgram, "bad remote path '" + printable(remote->path) + "': " + *violation);
    return static_cast<int>(Exit::kUsage);
  }
  options.remote = *remote;
  return run_list(options);
}

}  // namespace

int ftls_main(int argc, char** argv) {
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
