#include "server/cli/keys_command.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/os/fd.hpp"
#include "common/rules/errors.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::server {
namespace {

constexpr int kFileError = 3;  // keys file unreadable, unsafe or malformed

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Writes `text` to a new private file beside `path`, fsynced, and puts it in
// place: with `replace` by rename (atomic), otherwise by link, which fails if
// `path` appeared meanwhile. The directory is fsynced after.
bool install_file(const std::string& path, const std::string& text, bool replace,
                  std::string& why) {
  const std::string dir = directory_of(path);
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(attempt);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    why = temp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (ok) {
    ok = replace ? ::rename(temp.c_str(), path.c_str()) == 0
                 : ::link(temp.c_str(), path.c_str()) == 0;
    err = errno;
  }
  if (!ok || !replace) ::unlink(temp.c_str());
  if (!ok) {
    why = path + ": " + std::strerror(err);
    return false;
  }
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

// Held while `keys add` or `keys remove` reads, changes and rewrites the
// keys file: two at once would each write their own version and one
// change would be lost. The lock is FILE.lock (the file itself is replaced
// by a rename, so a lock on it would not serialise anything).
class KeysFileLock {
 public:
  explicit KeysFileLock(const std::string& path)
      : fd_(::open((path + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600)) {
    if (fd_.get() < 0) {
      why_ = path + ".lock: " + std::strerror(errno);
      return;
    }
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      why_ = path + ".lock: " + std::strerror(errno);
      return;
    }
    held_ = true;
  }
  bool held() const { return held_; }
  const std::string& why() const { return why_; }

 private:
  Fd fd_;
  bool held_ = false;
  std::string why_;
};

// The keys file's text and entries; `exists` false (and no error) when
// there is no file yet and `missing_ok`.
bool load(const std::string& path, bool missing_ok, std::string& text,
          std::vector<KeyEntry>& entries, bool& exists) {
  struct stat st {};
  exists = ::lstat(path.c_str(), &st) == 0;
  if (!exists && errno == ENOENT && missing_ok) return true;
  std::string why;
  auto read = read_private_file(path, why);
  if (!read) {
    std::fprintf(stderr, "ftserve keys: %s\n", why.c_str());
    return false;
  }
  auto parsed = parse_keys_file(*read, why);
  if (!parsed) {
    std::fprintf(stderr, "ftserve keys: %s: %s\n", path.c_str(), why.c_str());
    return false;
  }
  text = std::move(*read);
  entries = std::move(*parsed);
  exists = true;
  return true;
}

int add(const std::string& path, const std::string& name, const std::string& rights_text,
        const std::string& subdir, std::uint64_t quota_bytes, std::uint64_t quota_files) {
  const bool has_subdir = !subdir.empty() && subdir != "-";
  if ((quota_bytes != 0 || quota_files != 0) && !has_subdir) {
    // An identity on the whole root shares it with every other one: what
    // would count as its usage is not defined.
    std::fprintf(stderr, "ftserve keys add: --quota-bytes and --quota-files need --subdir\n");
    return static_cast<int>(Exit::kUsage);
  }
  auto rights = parse_rights(rights_text);
  if (!rights) {
    std::fprintf(stderr,
                 "ftserve keys add: --rights %s: expected a list of list,read,create,overwrite,"
                 "delete\n",
                 printable(rights_text).c_str());
    return static_cast<int>(Exit::kUsage);
  }
  KeysFileLock lock(path);
  if (!lock.held()) {
    std::fprintf(stderr, "ftserve keys add: %s\n", lock.why().c_str());
    return kFileError;
  }
  std::string text;
  std::vector<KeyEntry> entries;
  bool exists = false;
  if (!load(path, true, text, entries, exists)) return kFileError;
  for (const KeyEntry& e : entries) {
    if (e.name == name) {
      std::fprintf(stderr, "ftserve keys add: %s already has a key named %s\n", path.c_str(),
                   name.c_str());
      return static_cast<int>(Exit::kUsage);
    }
  }
  KeyEntry entry = new_key_entry(name, *rights, subdir == "-" ? "" : subdir);
  entry.quota_bytes = quota_bytes;
  entry.quota_files = quota_files;
  // The new line, checked by the parser the server uses (name and
  // sub-directory rules) before anything is written.
  std::string formatted = format_keys_file({entry});
  std::string why;
  if (!parse_keys_file(formatted, why)) {
    std::fprintf(stderr,
                 "ftserve keys add: %s (name: 1 to 64 of A-Z a-z 0-9 . _ -; "
                 "sub-directory: a relative path)\n",
                 why.c_str());
    return static_cast<int>(Exit::kUsage);
  }
  std::string line;
  std::istringstream lines(formatted);
  for (std::string l; std::getline(lines, l);) {
    if (!l.empty() && l[0] != '#') line = l + "\n";
  }
  if (exists) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += line;
  } else {
    text = formatted;
  }
  if (!install_file(path, text, exists, why)) {
    std::fprintf(stderr, "ftserve keys add: %s\n", why.c_str());
    return kFileError;
  }
  // The client's key goes to stdout once, never to stderr or a log.
  std::string client = format_client_key(entry);
  std::fwrite(client.data(), 1, client.size(), stdout);
  std::fflush(stdout);
  std::fprintf(stderr,
               "ftserve keys: added %s (id %s, rights %s, subdir %s) to %s.\n"
               "The client key was printed on stdout, and only there: save it mode 0600 on the\n"
               "client and use it with --key-file FILE or FT_KEY_FILE=FILE.\n",
               name.c_str(), entry.key.identity.c_str(), format_rights(entry.rights).c_str(),
               entry.subdir.empty() ? "-" : entry.subdir.c_str(), path.c_str());
  return 0;
}

int list(const std::string& path) {
  std::string text;
  std::vector<KeyEntry> entries;
  bool exists = false;
  if (!load(path, false, text, entries, exists)) return kFileError;
  std::printf("%-20s %-32s %-36s %-20s %s\n", "NAME", "ID", "RIGHTS", "SUBDIR", "QUOTA");
  for (const KeyEntry& e : entries) {
    // QUOTA: bytes:files, '-' where there is no limit.
    std::printf("%-20s %-32s %-36s %-20s %s\n", e.name.c_str(), e.key.identity.c_str(),
                format_rights(e.rights).c_str(), e.subdir.empty() ? "-" : e.subdir.c_str(),
                format_quota(e).c_str());
  }
  return 0;
}

int remove(const std::string& path, const std::string& name) {
  KeysFileLock lock(path);
  if (!lock.held()) {
    std::fprintf(stderr, "ftserve keys remove: %s\n", lock.why().c_str());
    return kFileError;
  }
  std::string text;
  std::vector<KeyEntry> entries;
  bool exists = false;
  if (!load(path, false, text, entries, exists)) return kFileError;
  // Keep every line (comments too) but the entry's: its fifth field is the name.
  std::string kept;
  bool found = false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string w; words >> w;) fields.push_back(w);
    if (fields.size() == 5 && fields[0][0] != '#' && fields[4] == name) {
      found = true;
      continue;
    }
    kept += line + '\n';
  }
  if (!found) {
    std::fprintf(stderr, "ftserve keys remove: %s has no key named %s\n", path.c_str(),
                 name.c_str());
    return static_cast<int>(Exit::kUsage);
  }
  std::string why;
  if (!install_file(path, kept, true, why)) {
    std::fprintf(stderr, "ftserve keys remove: %s\n", why.c_str());
    return kFileError;
  }
  std::fprintf(stderr,
               "ftserve keys: removed %s from %s (a running ftserve keeps it until restarted)\n",
               name.c_str(), path.c_str());
  return 0;
}

}  // namespace

int run_keys_command(int argc, char** argv) {
  CLI::App app{
      "ftserve keys: manage the keys file of ftserve --keys FILE (mode 0600).\n"
      "Exit status: 0 done, 2 usage error (bad name, rights, duplicate), 3 the keys file is\n"
      "unreadable, accessible by group/others, or malformed.",
      "ftserve keys"};
  app.require_subcommand(1);
  std::string keys_file;
  std::string name;
  std::string rights = format_rights(kDefaultRights);
  std::string subdir;

  auto* add_cmd = app.add_subcommand(
      "add", "add an identity NAME; prints its client key file on stdout (once)");
  add_cmd->add_option("NAME", name, "name of the identity (for logs and keys list)")->required();
  add_cmd->add_option("--keys", keys_file, "the server's keys file (created if missing)")
      ->required();
  add_cmd->add_option("--rights", rights, "list,read,create,overwrite,delete")
      ->capture_default_str();
  add_cmd->add_option("--subdir", subdir,
                      "directory below --root that this identity sees as its root "
                      "(created at its first connection)");
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  add_cmd
      ->add_option("--quota-bytes", quota_bytes,
                   "most bytes its sub-directory may hold, uploads in progress and kept\n"
                   "partial files included (QUOTA_EXCEEDED); needs --subdir")
      ->transform(CLI::AsSizeValue(false));
  add_cmd->add_option("--quota-files", quota_files,
                      "most files its sub-directory may hold (QUOTA_EXCEEDED); needs --subdir");

  auto* list_cmd = app.add_subcommand("list", "list names, ids, rights and sub-directories");
  list_cmd->add_option("--keys", keys_file, "the server's keys file")->required();

  auto* remove_cmd = app.add_subcommand("remove", "remove the identity NAME");
  remove_cmd->add_option("NAME", name, "name of the identity")->required();
  remove_cmd->add_option("--keys", keys_file, "the server's keys file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(Exit::kUsage);
  }
  try {
    if (add_cmd->parsed()) return add(keys_file, name, rights, subdir, quota_bytes, quota_files);
    if (list_cmd->parsed()) return list(keys_file);
    if (remove_cmd->parsed()) return remove(keys_file, name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftserve keys: %s\n", e.what());
    return static_cast<int>(Exit::kFailure);
  }
  return static_cast<int>(Exit::kUsage);
}

}  // namespace ft::server
