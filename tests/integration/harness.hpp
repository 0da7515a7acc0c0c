#pragma once
// Test harness for integration tests: runs the real binaries (from
// FT_BIN_DIR) with deadlines, starts ftserve on 127.0.0.1 port 0 in a
// temporary root and reads the bound port from its "listening on" line
// through a pipe, and hashes files on disk.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace ft::testing {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
};

/// Path of one of the built programs ("ftsend").
std::string bin(const std::string& name);

/// Runs argv[0] (a path) with a deadline; kills it when the deadline passes.
RunResult run(const std::vector<std::string>& argv,
              std::chrono::seconds deadline = std::chrono::seconds(120));

/// A child process whose stdout first line is "listening on ADDR:PORT".
class ListeningProcess {
 public:
  ListeningProcess() = default;
  ~ListeningProcess();
  ListeningProcess(const ListeningProcess&) = delete;
  ListeningProcess& operator=(const ListeningProcess&) = delete;
  /// Starts the program and waits (with a deadline) for its ready line.
  /// Returns false (and fills `error`) if it exits or never gets ready.
  bool start(const std::vector<std::string>& argv, std::string& error);
  /// Sends `signal` and waits for the exit; returns the exit status
  /// (-1 if killed by a signal). Collects stderr.
  int stop(int signal);
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  /// Everything the program wrote to stderr (complete after stop()).
  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int port_ = 0;
  std::string address_;
  std::string err_;
};

/// A fresh temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// Writes `size` pseudo-random bytes (seeded) to `path`.
void write_random_file(const fs::path& path, std::uint64_t size, std::uint32_t seed);
void write_file(const fs::path& path, const std::string& content);
std::string read_file(const fs::path& path);
/// XXH3-128 of the file's bytes, as hex.
std::string file_hash(const fs::path& path);
/// Names in `dir` (recursively, relative), to check nothing extra appeared.
std::vector<std::string> tree_names(const fs::path& dir);

}  // namespace ft::testing
