#include "common/crypto/keys.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>

#include "common/base/hex.hpp"
#include "common/rules/path_rules.hpp"

namespace ft {
namespace {

constexpr std::pair<const char*, std::uint32_t> kRightNames[] = {
    {"list", kRightList},           {"read", kRightRead},     {"create", kRightCreate},
    {"overwrite", kRightOverwrite}, {"delete", kRightDelete}, {"owner", kRightOwner},
};

bool parse_secret(const std::string& text, std::array<std::uint8_t, kPskBytes>& out) {
  if (text.size() != kPskBytes * 2) return false;
  for (std::size_t i = 0; i < kPskBytes; ++i) {
    int high = hex_value(text[2 * i]);
    int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

// Identities travel in the clear in the ClientHello: printable ASCII words
// only, so they can never smuggle anything into a log line.
bool valid_identity(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdentityBytes) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool valid_name(const std::string& name) {
  return valid_identity(name);
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

}  // namespace

std::optional<std::uint32_t> parse_rights(const std::string& text) {
  if (text.empty()) return std::nullopt;
  // format_rights writes "none" for an identity without rights (a disabled
  // key); it has to read back.
  if (text == "none") return 0;
  std::uint32_t rights = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string word =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool known = false;
    for (auto [name, bit] : kRightNames) {
      if (word == name) {
        rights |= bit;
        known = true;
      }
    }
    if (!known) return std::nullopt;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return rights;
}

std::string format_rights(std::uint32_t rights) {
  std::string out;
  for (auto [name, bit] : kRightNames) {
    if ((rights & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "none" : out;
}

bool parse_quota(const std::string& text, std::uint64_t& bytes, std::uint64_t& files) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  auto number = [](const std::string& field, std::uint64_t& out) {
    if (field == "-") {
      out = 0;
      return true;
    }
    if (field.empty() || field.size() > 19 ||
        field.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    out = std::stoull(field);
    return out != 0;  // "no limit" is written '-'
  };
  return number(text.substr(0, colon), bytes) && number(text.substr(colon + 1), files);
}

std::string format_quota(const KeyEntry& entry) {
  auto field = [](std::uint64_t n) { return n == 0 ? std::string("-") : std::to_string(n); };
  return field(entry.quota_bytes) + ':' + field(entry.quota_files);
}

std::optional<std::vector<KeyEntry>> parse_keys_file(const std::string& text, std::string& why) {
  std::vector<KeyEntry> entries;
  std::set<std::string> ids;
  std::set<std::string> names;
  std::istringstream in(text);
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    auto fields = words(line);
    if (fields.empty() || fields[0][0] == '#') continue;
    auto fail = [&](const std::string& what) {
      why = "line " + std::to_string(number) + ": " + what;
      return std::nullopt;
    };
    // A sixth field, the quotas, was added later: files without it load.
    if (fields.size() != 5 && fields.size() != 6) {
      return fail("expected: ID KEY RIGHTS SUBDIR NAME [QUOTA]");
    }
    KeyEntry entry;
    entry.key.identity = fields[0];
    if (!valid_identity(entry.key.identity)) return fail("bad identity");
    if (!parse_secret(fields[1], entry.key.secret)) return fail("key is not 64 hex digits");
    auto rights = parse_rights(fields[2]);
    if (!rights) return fail("bad rights '" + printable(fields[2]) + "'");
    entry.rights = *rights;
    if (fields[3] != "-") {
      if (path_violation(fields[3], false)) {
        return fail("bad sub-directory '" + printable(fields[3]) + "'");
      }
      entry.subdir = fields[3];
    }
    entry.name = fields[4];
    if (!valid_name(entry.name)) return fail("bad name");
    if (fields.size() == 6) {
      if (!parse_quota(fields[5], entry.quota_bytes, entry.quota_files)) {
        return fail("bad quota '" + printable(fields[5]) +
                    "' (expected BYTES:FILES, '-' for none)");
      }
      if (entry.subdir.empty() && (entry.quota_bytes != 0 || entry.quota_files != 0)) {
        return fail("a quota needs a sub-directory");
      }
    }
    if (!ids.insert(entry.key.identity).second) return fail("duplicate identity");
    if (!names.insert(entry.name).second) return fail("duplicate name '" + entry.name + "'");
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string format_keys_file(const std::vector<KeyEntry>& entries) {
  std::string out =
      "# ftserve keys file: ID KEY RIGHTS SUBDIR NAME (keep it mode 0600).\n"
      "# Rights: list,read,create,overwrite,delete. SUBDIR '-' is the whole root.\n"
      "# QUOTA (optional): BYTES:FILES, '-' for no limit on one of them.\n";
  for (const KeyEntry& e : entries) {
    out += e.key.identity + ' ' + hex_of(e.key.secret.data(), e.key.secret.size()) + ' ' +
           format_rights(e.rights) + ' ' + (e.subdir.empty() ? "-" : e.subdir) + ' ' + e.name;
    // Written only when set, so a file without quotas stays readable by an
    // ftserve from before them.
    if (e.quota_bytes != 0 || e.quota_files != 0) out += ' ' + format_quota(e);
    out += '\n';
  }
  return out;
}

std::optional<PskKey> parse_client_key(const std::string& text, std::string& why) {
  PskKey key;
  bool have_identity = false;
  bool have_key = false;
  std::istringstream in(text);
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    auto fields = words(line);
    if (fields.empty() || fields[0][0] == '#') continue;
    if (fields.size() == 2 && fields[0] == "identity" && valid_identity(fields[1])) {
      key.identity = fields[1];
      have_identity = true;
    } else if (fields.size() == 2 && fields[0] == "key" && parse_secret(fields[1], key.secret)) {
      have_key = true;
    } else {
      why = "line " + std::to_string(number) + ": expected 'identity ID' or 'key <64 hex digits>'";
      return std::nullopt;
    }
  }
  if (!have_identity || !have_key) {
    why = "needs an 'identity' line and a 'key' line";
    return std::nullopt;
  }
  return key;
}

std::string format_client_key(const KeyEntry& entry) {
  return "# ft client key for " + entry.name +
         ". Keep it secret: chmod 600, pass it with --key-file or FT_KEY_FILE.\n"
         "identity " +
         entry.key.identity + "\nkey " + hex_of(entry.key.secret.data(), entry.key.secret.size()) +
         "\n";
}

std::optional<std::string> read_private_file(const std::string& path, std::string& why) {
  // A process that holds key material is never dumped (a core file would
  // carry the keys) and cannot be ptrace'd by other processes of its user.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // O_NONBLOCK: a FIFO put where the key file should be must not hang us
  // before fstat() can refuse it; reads of a regular file ignore the flag.
  // O_NOFOLLOW: a symbolic link at the key file's path is refused, like
  // OpenSSH's StrictModes, rather than followed to whatever it names.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) {
    why = errno == ELOOP ? path + " is a symbolic link: give the file itself"
                         : path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  std::string text;
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) {
    why = path + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    why = path + ": not a regular file";
    ok = false;
  } else if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    why = path + " is owned by uid " + std::to_string(st.st_uid) +
          ", neither this user nor root: chown it";
    ok = false;
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    why = path + " is accessible by group/others (mode " + mode + "): chmod 600 " + path;
    ok = false;
  } else if (static_cast<std::uint64_t>(st.st_size) > kMaxKeyFileBytes) {
    why = path + ": too large for a key file";
    ok = false;
  }
  // Room for the whole file at once: a string that grows leaves copies of
  // the keys behind in the memory it gives back.
  if (ok) text.reserve(kMaxKeyFileBytes + 1);
  char buffer[4096];
  while (ok) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = path + ": " + std::strerror(errno);
      ok = false;
    }
    if (n <= 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxKeyFileBytes) {
      why = path + ": too large for a key file";
      ok = false;
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  ::close(fd);
  if (!ok) {
    wipe(text);
    return std::nullopt;
  }
  return text;
}

void wipe(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

KeyEntry new_key_entry(std::string name, std::uint32_t rights, std::string subdir) {
  KeyEntry entry;
  std::uint8_t id[16];
  if (RAND_bytes(id, sizeof id) != 1 ||
      RAND_bytes(entry.key.secret.data(), static_cast<int>(entry.key.secret.size())) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL");
  }
  entry.key.identity = hex_of(id, sizeof id);
  entry.rights = rights;
  entry.subdir = std::move(subdir);
  entry.name = std::move(name);
  return entry;
}

}  // namespace ft
