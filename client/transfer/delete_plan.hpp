#pragma once
// --delete for ftsend -r and ftget -r (docs/client.md, "Mirrors"): what the
// destination holds that the source lacks, gathered during the walk and
// removed only after every transfer of the run succeeded. The plan is the
// same both ways; where the names are (the server, or the local
// destination) is the business of remote_delete.cpp and local_delete.cpp.
// Order, like rsync's: files and links first, then directories deepest
// first, so every directory is empty when its turn comes.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/rules/filter_rules.hpp"

namespace ft::client {

/// What --delete, --delete-excluded and --max-delete asked for.
struct DeleteOptions {
  bool enabled = false;              // --delete
  bool excluded_too = false;         // --delete-excluded
  std::optional<std::uint64_t> max;  // --max-delete N
};

/// One name to remove.
struct Deletion {
  std::string path;   // where it is: a remote path, or a path below the local destination
  std::string rel;    // below the transferred tree's top: what the filters see
  std::string shown;  // the destination's name for it in messages and events
  bool directory = false;
};

/// The names a run would delete, with the directories among them expanded
/// into their content (by the caller, which lists them).
class DeletePlan {
 public:
  DeletePlan(const FilterSet& filters, DeleteOptions options)
      : filters_(filters), options_(options) {}

  /// A name of the destination absent from the source, found beside the
  /// names the walk transferred. The caller has applied the filters with
  /// the .ftignore layers in force there (excluded() below). Adding a name
  /// twice (a retried walk lists a directory again) keeps one.
  void add(Deletion deletion);
  /// True if `rel` may not be deleted: it is excluded and
  /// --delete-excluded was not given.
  bool protected_name(std::string_view rel, bool directory,
                      const FilterLayer* layers = nullptr) const;
  /// The next directory whose content is still to be listed, or nullopt.
  std::optional<Deletion> next_to_expand();
  /// One entry found in the directory `parent` (from next_to_expand): a
  /// name to delete too, unless it is protected, which keeps `parent` and
  /// every directory above it in the plan.
  void add_inside(const Deletion& parent, const std::string& name, bool directory);
  /// A directory whose listing failed: it is kept (with what it holds).
  void keep(const Deletion& directory);

  /// The source's mode and mtime of a destination directory the walk
  /// planned deletions in. Deleting names changes a directory's mtime
  /// after the transfer set it, so the phase sets it again (rsync -a keeps
  /// directory times through --delete too).
  struct DirTimes {
    std::uint32_t mode = 0;
    std::int64_t mtime_ns = 0;
  };
  void remember_times(const std::string& dir_path, DirTimes times);
  /// What remember_times() recorded for `dir_path`, or nullptr.
  const DirTimes* times_of(const std::string& dir_path) const;

  /// Everything to delete, in order (files, then directories deepest
  /// first), without the directories kept for a protected name inside.
  std::vector<Deletion> ordered() const;
  /// The directories kept because they hold protected names.
  std::vector<std::string> kept() const;
  bool empty() const { return found_.empty(); }

 private:
  void keep_path(const std::string& path);

  const FilterSet& filters_;
  DeleteOptions options_;
  std::map<std::string, Deletion> found_;  // by path
  std::vector<std::string> to_expand_;
  std::set<std::string> kept_;             // directories (by path) that must stay
  std::map<std::string, DirTimes> times_;  // by destination directory path
};

/// What a deletion phase did, for the summary and the exit status.
struct DeleteOutcome {
  std::uint64_t deleted = 0;
  std::uint64_t over_limit = 0;  // left alone by --max-delete
};

/// The directory holding the name `path` (a Deletion's path): "" for a
/// name at the top.
std::string parent_of(const std::string& path);

/// Cuts `plan` (ordered) at --max-delete, rsync's way: the first N are
/// deleted, the rest skipped; returns how many were cut off.
std::uint64_t apply_max_delete(std::vector<Deletion>& plan, std::optional<std::uint64_t> max);

}  // namespace ft::client
