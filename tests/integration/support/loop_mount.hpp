#pragma once
// File systems the durability and crash tests mount: an ext4 image on a
// loop device, and the guard that unmounts a mount point when it goes.
#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ft::testing {

/// A mount point that is unmounted (lazily, if it is still busy) when the
/// guard goes out of scope.
class MountGuard {
 public:
  MountGuard() = default;
  explicit MountGuard(fs::path point) : point_(std::move(point)) {}
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() { unmount(); }
  void set(fs::path point) { point_ = std::move(point); }
  const fs::path& point() const { return point_; }
  void unmount();

 private:
  fs::path point_;
};

/// Why this machine cannot give a loop device (the loop module is loaded
/// first if it is missing); empty when it can.
std::string loop_devices_unavailable();

/// Creates `image`, a sparse file of `size` bytes, holding an empty ext4
/// file system made with `mkfs_options` (after -q -F); empty on success,
/// else mkfs's complaint.
std::string make_ext4_image(const fs::path& image, std::uint64_t size,
                            const std::vector<std::string>& mkfs_options = {});

/// How mount_loop went.
struct LoopMount {
  enum class Outcome { kMounted, kRefused, kFailed };
  Outcome outcome = Outcome::kFailed;
  std::string message;  // mount's stderr when it did not mount
};

/// Mounts `image` at `point` (created) through a free loop device, with
/// `options` added to "loop" (e.g. "ro" or "data=writeback"), and arms
/// `guard` on success. kRefused: the kernel would not attach a loop device,
/// a reason to skip; kFailed: anything else.
LoopMount mount_loop(const fs::path& image, const fs::path& point, const std::string& options,
                     MountGuard& guard);

}  // namespace ft::testing
