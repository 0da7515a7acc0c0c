#include "client/cli/archive_options.hpp"

namespace ft::client {

void add_archive_options(CLI::App& app, ArchiveOptions& target, bool& recursive) {
  app.add_flag_callback(
      "-a,--archive",
      [&target, &recursive] {
        target.archive = true;
        recursive = true;
      },
      "Archive mode: -r keeping links, hard links, holes, exact modes and times, and owners "
      "and groups when the receiver runs as root");
  app.add_flag("--owner", target.owner, "With -r: keep owners (by name, else number; root)");
  app.add_flag("--group", target.group, "With -r: keep groups (by name, else number; root)");
  app.add_flag("-X,--xattrs", target.xattrs, "With -r: keep extended attributes");
  app.add_flag("-A,--acls", target.acls, "With -r: keep POSIX ACLs");
  auto* links = app.add_flag_callback(
      "--links", [&target] { target.links = true; },
      "With -r: symbolic links as links (the default)");
  app.add_flag_callback(
         "--no-links", [&target] { target.links = false; },
         "With -r: skip symbolic links (and report them)")
      ->excludes(links);
}

bool archive_given(const ArchiveOptions& options) {
  return options.owner || options.group || options.xattrs || options.acls;
}

}  // namespace ft::client
