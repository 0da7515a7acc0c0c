#pragma once
// Test harness for integration tests: runs the real binaries (from
// FT_BIN_DIR) with deadlines, starts ftserve on 127.0.0.1 port 0 in a
// temporary root and reads the bound port from its "listening on" line
// through a pipe, and hashes files on disk.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
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

/// A process whose parent is `parent` (field 4 of /proc/PID/stat), or 0:
/// the program a wrapper (strace, env) started.
pid_t child_of(pid_t parent);

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
  /// Waits (with a deadline) until the program printed `line` as a whole
  /// line on stdout after its ready line; false if it did not in time or
  /// exited. Each line is consumed once, so a second wait needs a second line.
  bool wait_for_line(const std::string& line,
                     std::chrono::seconds deadline = std::chrono::seconds(20));
  /// Waits (with a deadline) until stderr so far contains `text`.
  bool wait_for_err(const std::string& text,
                    std::chrono::seconds deadline = std::chrono::seconds(20));
  /// Sends `signal` without waiting (SIGUSR1 to the proxy, for instance).
  void signal(int signal);
  /// Reads what stderr and stdout hold now, without waiting: keeps a chatty
  /// program from blocking on a full pipe during a long test.
  void collect_output();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int port_ = 0;
  std::string address_;
  std::string out_;  // stdout after the ready line, not yet consumed
  std::string err_;
};

/// A program running in the background (so that a test can signal it in the
/// middle of its work), its output collected by finish().
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  void start(const std::vector<std::string>& argv);
  pid_t pid() const { return pid_; }
  /// Sends `signal` (the process is still collected by finish()).
  void signal(int signal);
  /// Waits (with a deadline) until stdout holds at least one complete line
  /// not returned yet, then returns every complete line it holds now
  /// (without their newlines); empty at end of output or deadline. What
  /// is not returned here is still in finish()'s result.
  std::vector<std::string> read_lines(std::chrono::milliseconds deadline);
  /// Reads stdout and stderr to the end and reaps the process, killing it
  /// when the deadline passes (exit_code -1 then, as for a signal).
  RunResult finish(std::chrono::seconds deadline = std::chrono::seconds(60));

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  bool out_open_ = true;
  bool err_open_ = true;
  std::string out_;  // stdout read by read_lines() and not returned yet
  std::string err_;  // stderr read by read_lines()
};

/// One HTTP exchange with 127.0.0.1:PORT over a raw socket: what the server
/// answered before it closed the connection ("" when it closed without a
/// word; "socket failed" when no socket could be made).
std::string http_exchange(int port, const std::string& request);

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

/// A tmpfs of `size` (mount(8)'s size=, such as "3m") over `dir` until
/// destroyed, then detached. Mounting needs root: when it fails, mounted()
/// is false and error() says why (for GTEST_SKIP).
class TmpfsMount {
 public:
  TmpfsMount(const fs::path& dir, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

/// Writes `size` pseudo-random bytes (seeded) to `path`.
void write_random_file(const fs::path& path, std::uint64_t size, std::uint32_t seed);
void write_file(const fs::path& path, const std::string& content);
/// `count` files of 3,000-4,999 bytes (pseudo-random, from `seed`) in three
/// directories d0..d2 below `top`, named by `name_format` ("f%d", "f%03d")
/// from their index; their paths relative to `top`, sorted. Faster than
/// write_random_file for trees of thousands of files.
std::vector<std::string> write_small_tree(const fs::path& top, int count, std::uint32_t seed,
                                          const char* name_format = "f%d");
/// The same, then mode 0600 (key files: the tools refuse wider modes).
void write_private(const fs::path& path, const std::string& content);
std::string read_file(const fs::path& path);
/// XXH3-128 of the file's bytes, as hex.
std::string file_hash(const fs::path& path);
/// Names in `dir` (recursively, relative), to check nothing extra appeared.
std::vector<std::string> tree_names(const fs::path& dir);
/// Like tree_names, leaving out every name with a component starting with
/// ".ft-" (the server's hidden state): what a client can see.
std::vector<std::string> visible_tree_names(const fs::path& dir);
/// Regular files under `dir` (recursively) whose own name starts with `prefix`.
std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix);
/// The largest size among files_with_prefix(dir, prefix); 0 when none.
std::uint64_t largest_with_prefix(const fs::path& dir, const std::string& prefix);

/// Bytes one connection moved through ft_test_proxy, from its stderr report
/// "connection K: upstream=U downstream=D".
struct ProxyTraffic {
  std::uint64_t upstream = 0;
  std::uint64_t downstream = 0;
};
std::optional<ProxyTraffic> proxy_traffic(const std::string& proxy_err, int connection);

/// The `offset=N` field of ftserve's log line for a finished put of `path`
/// ending in `result=ok` (the last one); nullopt when there is no such line
/// or it has no offset.
std::optional<std::uint64_t> logged_put_offset(const std::string& server_err,
                                               const std::string& path);

}  // namespace ft::testing
