#pragma once
// A client run whose own peak RSS is measured (the Release memory bounds of
// issue 15), and a scratch directory on tmpfs for the big trees and files
// those tests make (made in seconds, never on the real disk).
#include <chrono>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ft::testing {

/// Built with AddressSanitizer (scripts/test's main build): memory bounds
/// are a Release build's, and sanitized runs are several times slower.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

/// How a measured client ended: its status and its own peak RSS (VmHWM,
/// read while it runs: wait4's ru_maxrss would count the test process's
/// memory, which the spawned child shared until its exec).
struct Measured {
  int exit_code = -1;
  long peak_kib = 0;
  double seconds = 0;
};

/// Runs argv with stdout to `out_file` and stderr to `err_file`, at most
/// `deadline` (then killed).
Measured run_measured(const std::vector<std::string>& argv, const fs::path& out_file,
                      const fs::path& err_file, std::chrono::seconds deadline);

/// A temporary directory on tmpfs (/dev/shm), removed on destruction.
class ShmDir {
 public:
  ShmDir();
  ~ShmDir();
  ShmDir(const ShmDir&) = delete;
  ShmDir& operator=(const ShmDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace ft::testing
