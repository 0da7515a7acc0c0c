#pragma once
// ft_fake_server's made-up trees: the scenarios (described at the top of
// ft_fake_server.cpp), their listings and STAT answers, and the payload a GET
// of any path answers.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/bytes.hpp"
#include "common/wire/messages.hpp"

namespace fake {

using ft::Entry;
using ft::EntryType;

inline constexpr std::int64_t kMtime = 1600000000000000000;
inline constexpr std::size_t kMaxDeepLevels = 200;
inline constexpr std::uint64_t kHugeSize = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kMaxSize = std::numeric_limits<std::uint64_t>::max();
// Entries per ENTRIES frame of the endless listing, and a bound on the
// whole so that the tool stops on its own even if a client never does.
inline constexpr std::size_t kEndlessBatch = 1000;
inline constexpr std::size_t kEndlessLimit = 50'000'000;
// What the ansi scenario puts in names, link targets and messages: CSI and
// OSC sequences, CR, BEL, the C1 CSI (U+009B) and bidi overrides (U+202E
// RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE).
inline constexpr const char* kAnsiMessage =
    "\x1b[2J\x1b[31mdisk on fire\r\x1b]0;owned\x07 \xc2\x9b"
    "31m \xe2\x80\xae"
    "exe.txt \xe2\x81\xa6"
    "isolated";

enum class Scenario {
  kHostile,
  kChain,
  kDeep,
  kWrongName,
  kExtra,
  kShort,
  kAbsurd,
  kSetuid,
  kAnsi,
  kSymlink,
  kSignature
};

inline constexpr std::pair<const char*, Scenario> kScenarios[] = {
    {"hostile", Scenario::kHostile},     {"chain", Scenario::kChain},
    {"deep", Scenario::kDeep},           {"wrongname", Scenario::kWrongName},
    {"extra", Scenario::kExtra},         {"short", Scenario::kShort},
    {"absurd", Scenario::kAbsurd},       {"setuid", Scenario::kSetuid},
    {"ansi", Scenario::kAnsi},           {"symlink", Scenario::kSymlink},
    {"signature", Scenario::kSignature},
};

/// The bytes a GET of `path` answers unless the scenario says otherwise.
std::string payload_for(const std::string& path);
ft::ByteSpan span_of(const std::string& bytes);
/// A file entry of `size` bytes (more than a GET will send, for the absurd cases).
Entry sized_file(const std::string& name, std::uint64_t size);
/// The listing of every directory of the made-up tree; nullopt: not one.
std::optional<std::vector<Entry>> listing(Scenario scenario, const std::string& path);
/// STAT: the directory itself, or its entry in the parent's listing.
std::optional<Entry> stat_entry(Scenario scenario, const std::string& path);

}  // namespace fake
