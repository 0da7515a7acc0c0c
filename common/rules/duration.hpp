#pragma once
// Durations on the command line: "90" (seconds), "30s", "15m", "12h", "3d"
// (and "500ms" where milliseconds make sense).
#include <chrono>
#include <optional>
#include <string_view>

namespace ft {

/// Parses a non-negative duration; nullopt if malformed or above 100 years.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
/// The same, and "500ms" too (ftserve's timeouts).
std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

}  // namespace ft
