#include "client/transfer/delete_plan.hpp"

#include <algorithm>

#include "client/local/local_tree.hpp"

namespace ft::client {
namespace {

std::size_t depth_of(const std::string& path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

}  // namespace

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

bool DeletePlan::protected_name(std::string_view rel, bool directory,
                                const FilterLayer* layers) const {
  return !options_.excluded_too && filters_.excluded(rel, directory, layers);
}

void DeletePlan::add(Deletion deletion) {
  const std::string path = deletion.path;
  const bool directory = deletion.directory;
  if (!found_.emplace(path, std::move(deletion)).second) return;
  if (directory) to_expand_.push_back(path);
}

std::optional<Deletion> DeletePlan::next_to_expand() {
  if (to_expand_.empty()) return std::nullopt;
  std::string path = std::move(to_expand_.back());
  to_expand_.pop_back();
  return found_.at(path);
}

void DeletePlan::add_inside(const Deletion& parent, const std::string& name, bool directory) {
  Deletion inside{join_path(parent.path, name), join_path(parent.rel, name),
                  join_path(parent.shown, name), directory};
  // .ftignore layers are read from the source, which has no such
  // directory: the command-line rules alone decide here.
  if (protected_name(inside.rel, directory)) return keep_path(parent.path);
  add(std::move(inside));
}

void DeletePlan::remember_times(const std::string& dir_path, DirTimes times) {
  times_.insert_or_assign(dir_path, times);
}

const DeletePlan::DirTimes* DeletePlan::times_of(const std::string& dir_path) const {
  auto found = times_.find(dir_path);
  return found == times_.end() ? nullptr : &found->second;
}

void DeletePlan::keep(const Deletion& directory) {
  keep_path(directory.path);
}

void DeletePlan::keep_path(const std::string& path) {
  // The directory and those above it inside the plan stay (rsync: "cannot
  // delete non-empty directory").
  for (std::string at = path; found_.contains(at);) {
    if (!kept_.insert(at).second) break;
    const std::size_t slash = at.rfind('/');
    if (slash == std::string::npos) break;
    at.resize(slash);
  }
}

std::vector<Deletion> DeletePlan::ordered() const {
  std::vector<Deletion> files, directories;
  for (const auto& [path, deletion] : found_) {
    if (!deletion.directory) {
      // A file below a directory kept for a failed listing is left alone
      // too: it could not have been found. Those found are deleted.
      files.push_back(deletion);
    } else if (!kept_.contains(path)) {
      directories.push_back(deletion);
    }
  }
  std::stable_sort(
      directories.begin(), directories.end(),
      [](const Deletion& a, const Deletion& b) { return depth_of(a.path) > depth_of(b.path); });
  files.insert(files.end(), directories.begin(), directories.end());
  return files;
}

std::vector<std::string> DeletePlan::kept() const {
  std::vector<std::string> out;
  for (const std::string& path : kept_) out.push_back(found_.at(path).shown);
  return out;
}

std::uint64_t apply_max_delete(std::vector<Deletion>& plan, std::optional<std::uint64_t> max) {
  if (!max || plan.size() <= *max) return 0;
  const std::uint64_t cut = plan.size() - *max;
  plan.resize(static_cast<std::size_t>(*max));
  return cut;
}

}  // namespace ft::client
