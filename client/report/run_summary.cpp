#include "client/report/run_summary.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/report/entry_format.hpp"
#include "client/report/sizes.hpp"

namespace ft::client {
namespace {

std::string seconds_text(double seconds) {
  char out[32];
  std::snprintf(out, sizeof out, "%.2f s", seconds);
  return out;
}

// "100,016 bytes", or with `human` "97.7 KiB (100,016 bytes)".
std::string stat_size(std::uint64_t bytes, bool human) {
  std::string exact = grouped(bytes) + " bytes";
  if (!human) return exact;
  return human_bytes(static_cast<double>(bytes)) + " (" + exact + ")";
}

}  // namespace

SkipKind skip_kind(std::string_view reason) {
  if (reason == "symlink") return SkipKind::kLink;
  if (reason == "fifo" || reason == "socket" || reason == "device" || reason == "special file") {
    return SkipKind::kSpecial;
  }
  return SkipKind::kUnchanged;
}

std::string summary_json(const RunTotals& t) {
  // ordered_json keeps the documented key order.
  nlohmann::ordered_json errors = nlohmann::ordered_json::array();
  for (const FailureRecord& e : t.errors) {
    errors.push_back({{"path", e.path}, {"code", e.code}, {"message", e.message}});
  }
  nlohmann::ordered_json j = {{"event", "summary"},
                              {"op", t.receiving ? "get" : "send"},
                              {"files", t.files},
                              {"bytes", t.bytes},
                              {"skipped", t.skipped},
                              {"bytes_skipped", t.bytes_skipped},
                              {"unchanged", t.unchanged},
                              {"links_skipped", t.links_skipped},
                              {"special_skipped", t.special_skipped},
                              {"failed", t.failed},
                              {"dirs_created", t.dirs_created},
                              {"links_created", t.links_created},
                              {"sparse_bytes", t.sparse_bytes},
                              {"seconds", t.seconds},
                              {"exit_code", t.exit_code},
                              {"errors", std::move(errors)}};
  if (t.errors_omitted > 0) j["errors_omitted"] = t.errors_omitted;
  if (t.deleting) {
    j["deleted"] = t.deleted;
    j["deletes_over_limit"] = t.deletes_over_limit;
    j["deletes_skipped"] = t.deletes_skipped;
  }
  j["delta_files"] = t.delta_files;
  j["bytes_matched"] = t.bytes_matched;
  if (t.dry_run) j["dry_run"] = true;
  // Paths are raw bytes: replace invalid UTF-8 rather than throw, and let
  // no hidden control reach a terminal.
  return escape_hidden_controls(
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string summary_line(const RunTotals& t, bool human) {
  std::string line = std::string(t.receiving ? "received " : "sent ") + std::to_string(t.files) +
                     " files (" + size_text(t.bytes, human) + "), skipped " +
                     std::to_string(t.skipped);
  std::string parts;
  auto part = [&](std::uint64_t n, const char* one, const char* many) {
    if (n == 0) return;
    if (!parts.empty()) parts += ", ";
    parts += std::to_string(n) + " " + (n == 1 ? one : many);
  };
  part(t.unchanged, "unchanged", "unchanged");
  part(t.links_skipped, "link", "links");
  part(t.special_skipped, "special file", "special files");
  // Only a skip that is not "unchanged" is worth a breakdown.
  if (t.links_skipped + t.special_skipped > 0) line += " (" + parts + ")";
  line += ", failed " + std::to_string(t.failed);
  if (t.deleting) {
    line += t.deletes_skipped ? ", deleted none (run failed)"
                              : ", deleted " + std::to_string(t.deleted);
    if (t.deletes_over_limit > 0) {
      line += " (" + std::to_string(t.deletes_over_limit) + " over --max-delete)";
    }
  }
  return line + " in " + seconds_text(t.seconds);
}

std::string stats_text(const RunTotals& t, bool human) {
  const std::uint64_t seen = t.files + t.skipped + t.failed;
  const char* moved = t.receiving ? "received" : "sent";
  std::string out;
  auto line = [&](const std::string& label, const std::string& value) {
    out += label + ": " + value + "\n";
  };
  line("Number of files", grouped(seen) + " (" + moved + ": " + grouped(t.files) +
                              ", unchanged: " + grouped(t.unchanged) +
                              ", links skipped: " + grouped(t.links_skipped) +
                              ", special skipped: " + grouped(t.special_skipped) +
                              ", failed: " + grouped(t.failed) + ")");
  line("Number of created directories", grouped(t.dirs_created));
  line("Number of created links", grouped(t.links_created));
  if (t.deleting) line("Number of deleted files", grouped(t.deleted));
  line("Total file size", stat_size(t.bytes + t.bytes_skipped, human));
  line(std::string("Total bytes ") + moved, stat_size(t.bytes, human));
  line("Total bytes skipped", stat_size(t.bytes_skipped, human));
  // rsync's names: what crossed the link, and what the receiver already had.
  line("Literal data", stat_size(t.bytes - t.bytes_matched, human));
  line("Matched data",
       stat_size(t.bytes_matched, human) + " (delta files: " + grouped(t.delta_files) + ")");
  // Only where there were holes: the block stays as it was for the rest.
  if (t.sparse_bytes > 0)
    line("Total bytes in holes (not moved)", stat_size(t.sparse_bytes, human));
  const double rate = t.seconds > 0 ? static_cast<double>(t.bytes) / t.seconds : 0;
  line("Elapsed time", seconds_text(t.seconds));
  line("Rate",
       human ? human_bytes(rate) + "/s" : grouped(static_cast<std::uint64_t>(rate)) + " bytes/s");
  if (t.dry_run) out += "(dry run: nothing was changed)\n";
  return out;
}

}  // namespace ft::client
