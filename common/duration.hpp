#pragma once
// Durations on the command line: "90" (seconds), "30s", "15m", "12h", "3d".
#include <chrono>
#include <optional>
#include <string_view>

namespace ft {

/// Parses a non-negative duration; nullopt if malformed or above 100 years.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace ft
