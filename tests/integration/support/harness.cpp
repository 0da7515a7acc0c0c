#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "common/crypto/checksum.hpp"

namespace ft::testing {

std::string bin(const std::string& name) {
  return std::string(FT_BIN_DIR) + "/" + name;
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int& out_fd, int& err_fd) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  // A server logs a line per request and the tests read its stderr only
  // when they look at it: a 64 KiB pipe filled up in tests with a few
  // thousand requests and blocked the server. 1 MiB (the default maximum)
  // holds ~7,000 lines; best effort.
  for (int fd : {out_pipe[0], err_pipe[0]}) ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

// Drains whatever is readable from fd into `into`; returns false at EOF.
bool drain(int fd, std::string& into) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    into.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && errno == EINTR;
}

int decode_status(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::seconds deadline) {
  // A run is a background process collected at once.
  BackgroundProcess process;
  process.start(argv);
  return process.finish(deadline);
}

ListeningProcess::~ListeningProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

bool ListeningProcess::start(const std::vector<std::string>& argv, std::string& error) {
  pid_ = spawn(argv, stdout_fd_, stderr_fd_);
  std::string out;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (out.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error = "no ready line within 20 s";
      return false;
    }
    struct pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(left.count()));
    if (fds[1].revents) drain(stderr_fd_, err_);
    if (fds[0].revents && !drain(stdout_fd_, out)) {
      error = "exited before getting ready: " + err_;
      return false;
    }
  }
  const std::string prefix = "listening on ";
  if (out.rfind(prefix, 0) != 0) {
    error = "unexpected ready line: " + out;
    return false;
  }
  address_ = out.substr(prefix.size(), out.find('\n') - prefix.size());
  port_ = std::stoi(address_.substr(address_.rfind(':') + 1));
  out_ = out.substr(out.find('\n') + 1);
  return true;
}

bool ListeningProcess::wait_for_line(const std::string& line, std::chrono::seconds deadline) {
  if (pid_ <= 0) return false;
  auto until = std::chrono::steady_clock::now() + deadline;
  bool out_open = true;
  for (;;) {
    // Consume complete lines; the wanted one ends the wait.
    for (auto end = out_.find('\n'); end != std::string::npos; end = out_.find('\n')) {
      bool found = out_.compare(0, end, line) == 0 && end == line.size();
      out_.erase(0, end + 1);
      if (found) return true;
    }
    if (!out_open) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    // stderr is drained too so that the program never blocks on a full pipe.
    if (fds[1].revents) drain(stderr_fd_, err_);
    if (fds[0].revents) out_open = drain(stdout_fd_, out_);
  }
}

bool ListeningProcess::wait_for_err(const std::string& text, std::chrono::seconds deadline) {
  if (pid_ <= 0) return err_.find(text) != std::string::npos;
  auto until = std::chrono::steady_clock::now() + deadline;
  bool err_open = true;
  while (err_.find(text) == std::string::npos) {
    if (!err_open) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd fds[2] = {{stderr_fd_, POLLIN, 0}, {stdout_fd_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    if (fds[0].revents) err_open = drain(stderr_fd_, err_);
    if (fds[1].revents) drain(stdout_fd_, out_);
  }
  return true;
}

void ListeningProcess::collect_output() {
  if (pid_ <= 0) return;
  for (;;) {
    struct pollfd fds[2] = {{stderr_fd_, POLLIN, 0}, {stdout_fd_, POLLIN, 0}};
    if (::poll(fds, 2, 0) <= 0) return;
    bool open = true;
    if (fds[0].revents) open = drain(stderr_fd_, err_) && open;
    if (fds[1].revents) open = drain(stdout_fd_, out_) && open;
    if (!open) return;
  }
}

void ListeningProcess::signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    finish();
  }
}

void BackgroundProcess::start(const std::vector<std::string>& argv) {
  pid_ = spawn(argv, stdout_fd_, stderr_fd_);
  out_open_ = true;
  err_open_ = true;
  out_.clear();
  err_.clear();
}

std::vector<std::string> BackgroundProcess::read_lines(std::chrono::milliseconds deadline) {
  std::vector<std::string> lines;
  if (pid_ <= 0) return lines;
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    // After the first complete line, only what is readable at once joins it.
    const bool have_line = out_.find('\n') != std::string::npos;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (!out_open_ || (!have_line && left.count() <= 0)) break;
    // stderr is drained too so that the program never blocks on a full pipe.
    struct pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {err_open_ ? stderr_fd_ : -1, POLLIN, 0}};
    const int timeout = have_line ? 0 : static_cast<int>(left.count());
    const int ready = ::poll(fds, 2, timeout);
    if (ready < 0 && errno != EINTR) break;
    if (ready == 0 && have_line) break;
    if (fds[1].revents) err_open_ = drain(stderr_fd_, err_);
    if (fds[0].revents) out_open_ = drain(stdout_fd_, out_);
  }
  for (auto end = out_.find('\n'); end != std::string::npos; end = out_.find('\n')) {
    lines.push_back(out_.substr(0, end));
    out_.erase(0, end + 1);
  }
  return lines;
}

void BackgroundProcess::signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

RunResult BackgroundProcess::finish(std::chrono::seconds deadline) {
  RunResult result;
  if (pid_ <= 0) return result;
  result.out = std::move(out_);
  result.err = std::move(err_);
  auto until = std::chrono::steady_clock::now() + deadline;
  bool out_open = out_open_, err_open = err_open_;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid_, SIGKILL);
      break;
    }
    struct pollfd fds[2] = {{out_open ? stdout_fd_ : -1, POLLIN, 0},
                            {err_open ? stderr_fd_ : -1, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if (fds[0].revents) out_open = drain(stdout_fd_, result.out);
    if (fds[1].revents) err_open = drain(stderr_fd_, result.err);
  }
  ::close(stdout_fd_);
  ::close(stderr_fd_);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  result.exit_code = decode_status(status);
  // exit_code -1 alone does not say what happened: the failure message will.
  if (WIFSIGNALED(status)) {
    result.err += "\n[harness: killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                  ::strsignal(WTERMSIG(status)) + ")]\n";
  }
  return result;
}

int ListeningProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  // Collect stderr until EOF (the process exited), bounded in time.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool open = true;
  while (open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid_, SIGKILL);
      break;
    }
    struct pollfd fd = {stderr_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) > 0) open = drain(stderr_fd_, err_);
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ::close(stdout_fd_);
  ::close(stderr_fd_);
  pid_ = -1;
  return decode_status(status);
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "ft-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TmpfsMount::TmpfsMount(const fs::path& dir, const std::string& size) : dir_(dir) {
  const std::string options = "size=" + size;
  mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  if (!mounted_) error_ = std::strerror(errno);
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

void write_random_file(const fs::path& path, std::uint64_t size, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<std::uint64_t> block(8192);
  while (size > 0) {
    for (auto& word : block) word = rng();
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, block.size() * 8));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    size -= n;
  }
}

pid_t child_of(pid_t parent) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    if (fields >> state >> ppid && ppid == parent) return std::stoi(name);
  }
  return 0;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::vector<std::string> write_small_tree(const fs::path& top, int count, std::uint32_t seed,
                                          const char* name_format) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    const std::string dir = "d" + std::to_string(i % 3);
    fs::create_directories(top / dir);
    char name[32];
    std::snprintf(name, sizeof name, name_format, i);
    names.push_back(dir + "/" + name);
    std::mt19937_64 rng(seed + static_cast<std::uint32_t>(i));
    std::string bytes(3000 + i % 2000, '\0');
    for (char& byte : bytes) byte = static_cast<char>(rng());
    write_file(top / names.back(), bytes);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void write_private(const fs::path& path, const std::string& content) {
  write_file(path, content);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string file_hash(const fs::path& path) {
  StreamHash128 hash;
  std::ifstream in(path, std::ios::binary);
  if (!in) return "missing";
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    hash.update(ByteSpan(reinterpret_cast<const std::uint8_t*>(buf.data()),
                         static_cast<std::size_t>(in.gcount())));
  }
  return hash.digest().hex();
}

std::vector<std::string> tree_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    names.push_back(fs::relative(it->path(), dir).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> visible_tree_names(const fs::path& dir) {
  std::vector<std::string> visible;
  for (const auto& name : tree_names(dir)) {
    bool hidden = false;
    for (const auto& component : fs::path(name)) {
      if (component.string().rfind(".ft-", 0) == 0) hidden = true;
    }
    if (!hidden) visible.push_back(name);
  }
  return visible;
}

std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename().string().rfind(prefix, 0) == 0) {
      found.push_back(it->path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::uint64_t largest_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::uint64_t largest = 0;
  for (const auto& path : files_with_prefix(dir, prefix)) {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (!ec) largest = std::max<std::uint64_t>(largest, size);
  }
  return largest;
}

std::optional<ProxyTraffic> proxy_traffic(const std::string& proxy_err, int connection) {
  const std::regex line("connection " + std::to_string(connection) +
                        R"(: upstream=(\d+) downstream=(\d+))");
  std::smatch match;
  if (!std::regex_search(proxy_err, match, line)) return std::nullopt;
  return ProxyTraffic{std::stoull(match[1].str()), std::stoull(match[2].str())};
}

std::optional<std::uint64_t> logged_put_offset(const std::string& server_err,
                                               const std::string& path) {
  const std::string quoted = "put path=\"" + path + "\"";
  std::optional<std::uint64_t> last;
  std::size_t start = 0;
  while (start < server_err.size()) {
    std::size_t end = server_err.find('\n', start);
    if (end == std::string::npos) end = server_err.size();
    std::string line = server_err.substr(start, end - start);
    start = end + 1;
    if (line.find(quoted) == std::string::npos || line.find("result=ok") == std::string::npos) {
      continue;
    }
    std::smatch match;
    static const std::regex offset(R"( offset=(\d+))");
    last = std::regex_search(line, match, offset) ? std::optional(std::stoull(match[1].str()))
                                                  : std::nullopt;
  }
  return last;
}

std::string http_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  struct sockaddr_in address {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    if (!request.empty()) (void)!::write(fd, request.data(), request.size());
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      struct pollfd p = {fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace ft::testing
