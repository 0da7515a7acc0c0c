#include "server/storage/tree_usage.hpp"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "server/storage/partial_record.hpp"
#include "server/storage/tree_walk.hpp"

namespace ft::server {
namespace {

class Measure final : public TreeVisitor {
 public:
  explicit Measure(TreeUsage& out) : out_(out) {}

  void entered(int, const std::string& name, std::size_t depth) override {
    // The path below the start, kept only for the partial files' names.
    prefix_lengths_.push_back(prefix_.size());
    if (depth > 0) prefix_ += name + "/";
  }
  void left(std::size_t) override {
    prefix_.resize(prefix_lengths_.back());
    prefix_lengths_.pop_back();
  }

  void file(int dir, const char* name, const struct stat& st) override {
    if (!S_ISREG(st.st_mode)) return;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    out_.files += 1;
    if (!is_partial_name(name)) {
      out_.bytes += size;
      return;
    }
    FoundPartial found{prefix_ + name, FileId{st.st_dev, st.st_ino}, size, size, false};
    if (auto declared = partial_declared_size(dir, name); declared && *declared >= size) {
      found.counted = *declared;
      found.declared = true;
    }
    out_.bytes += found.counted;
    out_.partials.push_back(std::move(found));
  }

 private:
  TreeUsage& out_;
  std::string prefix_;
  std::vector<std::size_t> prefix_lengths_;
};

}  // namespace

int measure_tree(int dir, TreeUsage& out) {
  Measure measure(out);
  return walk_tree(dir, measure).first_error;
}

}  // namespace ft::server
