#include "measured_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <stdexcept>
#include <thread>

#include "process_status.hpp"

extern char** environ;

namespace ft::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Measured run_measured(const std::vector<std::string>& argv, const fs::path& out_file,
                      const fs::path& err_file, std::chrono::seconds deadline) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  Measured result;
  const int err = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return result;
  const auto started = Clock::now();
  const auto until = started + deadline;
  int status = 0;
  struct rusage usage {};
  for (;;) {
    // The high-water mark only grows: the last reading before the exit is
    // its peak but for what the last 20 ms added.
    result.peak_kib = std::max(result.peak_kib, status_kib(pid, "VmHWM"));
    const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) break;
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &usage);
      return result;
    }
    // Polling the child's end: it has no pipe to us (its output goes to
    // files, to keep a million lines out of the test's memory).
    std::this_thread::sleep_for(20ms);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

ShmDir::ShmDir() {
  std::string pattern = "/dev/shm/ft-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

ShmDir::~ShmDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace ft::testing
