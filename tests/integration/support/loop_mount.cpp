#include "loop_mount.hpp"

#include <fstream>

namespace ft::testing {

void MountGuard::unmount() {
  if (point_.empty()) return;
  if (run({"/bin/umount", point_.string()}).exit_code != 0) {
    run({"/bin/umount", "-l", point_.string()});
  }
  point_.clear();
}

std::string loop_devices_unavailable() {
  if (fs::exists("/dev/loop-control")) return "";
  run({"/sbin/modprobe", "loop"});
  return fs::exists("/dev/loop-control") ? "" : "no loop devices (/dev/loop-control)";
}

std::string make_ext4_image(const fs::path& image, std::uint64_t size,
                            const std::vector<std::string>& mkfs_options) {
  { std::ofstream create(image); }
  std::error_code ec;
  fs::resize_file(image, size, ec);
  if (ec) return "cannot size " + image.string() + ": " + ec.message();
  std::vector<std::string> argv = {"/sbin/mkfs.ext4", "-q", "-F"};
  argv.insert(argv.end(), mkfs_options.begin(), mkfs_options.end());
  argv.push_back(image.string());
  RunResult mkfs = run(argv);
  return mkfs.exit_code == 0 ? "" : "mkfs.ext4 failed: " + mkfs.err;
}

LoopMount mount_loop(const fs::path& image, const fs::path& point, const std::string& options,
                     MountGuard& guard) {
  LoopMount result;
  fs::create_directories(point);
  const std::string all = options.empty() ? "loop" : "loop," + options;
  RunResult mount = run({"/bin/mount", "-o", all, image.string(), point.string()});
  if (mount.exit_code == 0) {
    result.outcome = LoopMount::Outcome::kMounted;
    guard.set(point);
    return result;
  }
  result.message = mount.err;
  // mount names the loop device when it could not set one up (no free
  // device, or a kernel that refuses them in this container).
  result.outcome = mount.err.find("loop") != std::string::npos ? LoopMount::Outcome::kRefused
                                                               : LoopMount::Outcome::kFailed;
  return result;
}

}  // namespace ft::testing
