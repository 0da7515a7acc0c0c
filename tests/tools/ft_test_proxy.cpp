// ft_test_proxy: a loopback TCP proxy that injects faults, for the integration
// tests.
//
//   ft_test_proxy --target 127.0.0.1:PORT [--flip-upstream N]
//                 [--flip-downstream N] [--cut-after N] [--cut-downstream-after N]
//                 [--stall-after N] [--stall-downstream-after N] [--flip-every N]
//                 [--flip-bit B] [--record FILE] [--record-downstream FILE]
//                 [--rate BPS]
//   ft_test_proxy --target 127.0.0.1:PORT --replay FILE
//
// It listens on 127.0.0.1 with an ephemeral port, prints exactly one line
// `listening on 127.0.0.1:PORT` on stdout once bound, and forwards every
// accepted connection to the target, both directions, until SIGTERM or SIGINT
// (exit status 0). These faults apply to the FIRST accepted connection only,
// so that a test can check that a retry through the same proxy succeeds:
//   --flip-upstream N           XOR 0xFF into byte N (0-based) of client -> server
//   --flip-downstream N         XOR 0xFF into byte N (0-based) of server -> client
//   --flip-bit B                with --flip-upstream/--flip-downstream: flip only
//                               bit B (0 = least significant .. 7) of that byte,
//                               the single-bit error a checksum must catch
//   --cut-after N               close both sockets once N bytes went client -> server
//   --cut-downstream-after N    close both sockets once N bytes went server -> client
//   --stall-after N             once N bytes went client -> server, forward nothing
//                               more in either direction until SIGUSR1
//   --stall-downstream-after N  the same, counting server -> client bytes
//   --record FILE               write the client -> server bytes (as delivered to
//                               the server) to FILE, created 0600 or truncated
//   --record-downstream FILE    the same for the server -> client bytes
// When a stall begins the proxy prints the line `stalled` on stdout (after the
// ready line) and flushes it, so a test can wait for it through a pipe.
//
// --replay FILE is another mode, not a proxy: it connects once to the target,
// sends FILE's bytes (a session captured with --record, say), reads what the
// server answers until it closes the connection, and prints one line on
// stdout: `replay: sent=S received=R closed` (exit status 0) or, if the
// server kept the connection open for 10 s, `... open` (exit status 1).
//
// One fault applies to EVERY connection, a persistent corruption:
//   --flip-every N  XOR 0xFF into one byte of every N bytes of DATA content
//                   client -> server. The proxy follows the frames (after the
//                   16-byte hello) so that only the bytes a DATA frame carries
//                   are touched, never a frame header or the offset and hash
//                   in front of the bytes: the damage is always a chunk whose
//                   hash fails, never a protocol error.
//
// One rewrite applies to EVERY connection, an older client:
//   --clear-capabilities BITS  clear BITS (a decimal number) in the
//                   capabilities of the client's hello (bytes 12 to 15 of
//                   the client -> server stream), as a client that does
//                   not know them would send it; the server then answers
//                   without them too (plain connections only, not TLS).
//
// One limit applies to EVERY connection, a slow link:
//   --rate BPS      forward at most BPS bytes per second in each direction
//                   (after a first 64 KiB), so that a client's progress
//                   display has time to show; the bytes not forwarded yet
//                   wait in the socket buffers, as on a slow network.
//
// A side that fails (a reset) ends only the direction towards it: what the
// other side sent before is still delivered (a TLS alert, an ERROR frame), as
// over a direct connection, and its end of stream passed on.
//
// When a connection ends (or at exit, for those still open) the proxy prints
// `ft_test_proxy: connection K: upstream=U downstream=D REASON` on stderr (K
// from 1; U and D are the bytes delivered to the server and to the client).
// The target must be a loopback address (127.0.0.0/8 or ::1): this tool must
// never be usable to relay traffic off the machine.
//
// It uses plain POSIX sockets and one poll() loop, deliberately not libuv, so
// that a bug in the code under test cannot hide in the tool that tests it.
// Logs (one line per connection) go to stderr.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data_corrupter.hpp"
#include "proxy_options.hpp"

namespace {

constexpr std::size_t kBufferSize = 256 * 1024;
// --rate: what a rate-limited direction may read at once before the rate
// applies, and how often the loop wakes to let more through.
constexpr std::uint64_t kRateBurst = 64 * 1024;
constexpr int kRateTickMs = 10;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

using proxy::DataCorrupter;
using proxy::Options;

// The signal handler only writes to a pipe that the poll loop watches: this
// avoids the race between checking a flag and entering poll(). The byte says
// which signal it was.
int g_signal_pipe[2] = {-1, -1};
constexpr char kStopByte = 'S';
constexpr char kReleaseByte = 'R';

extern "C" void on_signal(int signal_number) {
  int saved = errno;
  char byte = signal_number == SIGUSR1 ? kReleaseByte : kStopByte;
  [[maybe_unused]] auto ignored = write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

bool set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/// One direction of a connection: bytes read from `from`, held in `buffer`
/// until written to `to`. Stream offsets count from the connection's start.
struct Direction {
  int from = -1;
  int to = -1;
  std::vector<unsigned char> buffer = std::vector<unsigned char>(kBufferSize);
  std::size_t begin = 0;  // first byte not yet written to `to`
  std::size_t end = 0;    // one past the last byte read from `from`
  std::uint64_t read_total = 0;
  std::uint64_t written_total = 0;
  std::optional<std::uint64_t> flip_at;
  unsigned char flip_mask = 0xFF;          // --flip-bit: one bit instead of the byte
  std::optional<DataCorrupter> corrupter;  // --flip-every
  int record_fd = -1;                      // --record: copy of what is delivered
  std::optional<std::uint64_t> limit;      // stop reading here (--cut-after)
  std::optional<std::uint64_t> stall_at;   // stall once this much went out
  std::optional<std::uint64_t> rate;       // --rate: bytes per second read from `from`
  std::uint32_t clear_capabilities = 0;    // --clear-capabilities, in the hello
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool eof = false;   // `from` has reached end of stream
  bool shut = false;  // shutdown(to, SHUT_WR) done
  // `to` failed (reset): this direction is over, its bytes dropped, while
  // the other one still delivers what its peer sent before the reset (a TLS
  // alert, an ERROR frame), as a direct TCP connection would.
  bool broken = false;
  bool reset_seen = false;  // `from` ended with an error rather than a FIN

  /// How many more bytes may be read before a cut or a stall point.
  std::optional<std::uint64_t> read_allowance() const {
    std::optional<std::uint64_t> bound = limit;
    if (stall_at && (!bound || *stall_at < *bound)) bound = stall_at;
    if (rate) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const auto budget = kRateBurst + static_cast<std::uint64_t>(seconds * double(*rate));
      if (!bound || budget < *bound) bound = budget;
    }
    if (!bound) return std::nullopt;
    return *bound > read_total ? *bound - read_total : 0;
  }
  bool pending() const { return begin < end; }
  bool wants_read() const {
    auto allowance = read_allowance();
    return !eof && !broken && end < buffer.size() && (!allowance || *allowance > 0);
  }
  bool done() const { return shut || broken; }
  bool stall_reached() const { return stall_at && written_total >= *stall_at; }
};

/// A proxied connection. Owns both sockets.
struct Session {
  int id = 0;
  int client = -1;
  int server = -1;
  Direction up;          // client -> server
  Direction down;        // server -> client
  bool stalled = false;  // forwarding nothing until SIGUSR1

  ~Session() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }

  bool cut_reached() const {
    return (up.limit && up.written_total >= *up.limit) ||
           (down.limit && down.written_total >= *down.limit);
  }
  bool finished() const { return cut_reached() || (up.done() && down.done()); }

  /// Enters the stall once a stall point was delivered; says whether it did.
  bool check_stall() {
    if (stalled || !(up.stall_reached() || down.stall_reached())) return false;
    stalled = true;
    return true;
  }
  /// Ends a stall (or cancels one not reached yet).
  void release() {
    stalled = false;
    up.stall_at.reset();
    down.stall_at.reset();
  }
  const char* state() const {
    if (cut_reached()) return "cut";
    if (up.broken || down.broken || up.reset_seen || down.reset_seen) return "reset";
    if (up.shut && down.shut) return "closed";
    return "open";
  }
};

// The per-connection byte report the tests parse.
void report(const Session& session) {
  std::fprintf(stderr, "ft_test_proxy: connection %d: upstream=%llu downstream=%llu %s\n",
               session.id, static_cast<unsigned long long>(session.up.written_total),
               static_cast<unsigned long long>(session.down.written_total), session.state());
  std::fflush(stderr);
}

enum class Step { kProgress, kIdle };

// Reads what fits, flipping the target byte if it is in this read.
Step read_some(Direction& direction) {
  if (!direction.wants_read()) return Step::kIdle;
  std::size_t room = direction.buffer.size() - direction.end;
  if (auto allowance = direction.read_allowance()) {
    room = static_cast<std::size_t>(std::min<std::uint64_t>(room, *allowance));
  }
  ssize_t got = recv(direction.from, direction.buffer.data() + direction.end, room, 0);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Step::kIdle;
    // A reset: what came before it was read already; pass on the end.
    direction.eof = true;
    direction.reset_seen = true;
    return Step::kProgress;
  }
  if (got == 0) {
    direction.eof = true;
    return Step::kProgress;
  }
  auto count = static_cast<std::uint64_t>(got);
  if (direction.flip_at && *direction.flip_at >= direction.read_total &&
      *direction.flip_at < direction.read_total + count) {
    direction.buffer[direction.end + (*direction.flip_at - direction.read_total)] ^=
        direction.flip_mask;
  }
  // The hello's capabilities, a big-endian u32 at stream offset 12.
  for (std::uint64_t at = 12; direction.clear_capabilities != 0 && at < 16; ++at) {
    if (at < direction.read_total || at >= direction.read_total + count) continue;
    const auto shift = static_cast<unsigned>(8 * (15 - at));
    direction.buffer[direction.end + (at - direction.read_total)] &=
        static_cast<unsigned char>(~(direction.clear_capabilities >> shift) & 0xff);
  }
  if (direction.corrupter) {
    direction.corrupter->apply(direction.buffer.data() + direction.end,
                               static_cast<std::size_t>(got));
  }
  direction.end += static_cast<std::size_t>(got);
  direction.read_total += count;
  return Step::kProgress;
}

// Writes what is pending; propagates end of stream once everything is out.
Step write_some(Direction& direction) {
  if (direction.pending()) {
    ssize_t sent = send(direction.to, direction.buffer.data() + direction.begin,
                        direction.end - direction.begin, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Step::kIdle;
      direction.broken = true;
      direction.begin = direction.end = 0;
      return Step::kProgress;
    }
    if (direction.record_fd >= 0) {
      const unsigned char* from = direction.buffer.data() + direction.begin;
      for (std::size_t left = static_cast<std::size_t>(sent); left > 0;) {
        ssize_t n = write(direction.record_fd, from, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          std::fprintf(stderr, "ft_test_proxy: --record: %s\n", std::strerror(errno));
          std::exit(kExitFailure);
        }
        from += n;
        left -= static_cast<std::size_t>(n);
      }
    }
    direction.begin += static_cast<std::size_t>(sent);
    direction.written_total += static_cast<std::uint64_t>(sent);
    // Once drained, the whole buffer is free again for the next read.
    if (direction.begin == direction.end) direction.begin = direction.end = 0;
    return Step::kProgress;
  }
  if (direction.eof && !direction.shut && !direction.broken) {
    // A half-close is forwarded as a half-close, so request/response
    // exchanges that rely on it behave as they would without the proxy.
    shutdown(direction.to, SHUT_WR);
    direction.shut = true;
    return Step::kProgress;
  }
  return Step::kIdle;
}

// Announces a stall on stdout (the tests wait for this line) and stderr.
void announce_stall(const Session& session) {
  std::printf("stalled\n");
  std::fflush(stdout);
  std::fprintf(stderr, "ft_test_proxy: connection %d: stalled at upstream=%llu downstream=%llu\n",
               session.id, static_cast<unsigned long long>(session.up.written_total),
               static_cast<unsigned long long>(session.down.written_total));
  std::fflush(stderr);
}

// Moves bytes in both directions until nothing more can be done right now.
void pump(Session& session) {
  bool progress = true;
  while (progress && !session.finished()) {
    if (session.stalled) return;
    if (session.check_stall()) {
      announce_stall(session);
      return;
    }
    progress = false;
    for (Direction* direction : {&session.up, &session.down}) {
      for (auto step : {read_some(*direction), write_some(*direction)}) {
        if (step == Step::kProgress) progress = true;
      }
      if (session.finished()) return;
    }
  }
}

short events_for(const Session& session, const Direction& reading, const Direction& writing) {
  short events = 0;
  if (session.stalled) return events;
  if (reading.wants_read()) events |= POLLIN;
  if (!writing.broken && (writing.pending() || (writing.eof && !writing.shut))) events |= POLLOUT;
  return events;
}

int g_record_fd = -1;             // --record, for the first connection
int g_record_downstream_fd = -1;  // --record-downstream, the same

std::unique_ptr<Session> open_session(int listener, const Options& options, int id) {
  int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return nullptr;
  auto session = std::make_unique<Session>();
  session->id = id;
  session->client = client;
  session->server = socket(options.target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // A blocking connect is fine: the target is on loopback, so it either
  // completes or is refused at once.
  if (session->server < 0 ||
      connect(session->server, reinterpret_cast<const sockaddr*>(&options.target),
              options.target_length) != 0) {
    std::fprintf(stderr, "ft_test_proxy: connection %d: connect to %s: %s\n", id,
                 options.target_text.c_str(), std::strerror(errno));
    return nullptr;
  }
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(session->server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!set_nonblocking(client) || !set_nonblocking(session->server)) return nullptr;
  session->up.from = session->down.to = client;
  session->up.to = session->down.from = session->server;
  if (id == 1) {
    session->up.flip_at = options.flip_upstream;
    session->down.flip_at = options.flip_downstream;
    if (options.flip_bit) {
      session->up.flip_mask = session->down.flip_mask =
          static_cast<unsigned char>(1u << *options.flip_bit);
    }
    session->up.limit = options.cut_after;
    session->down.limit = options.cut_downstream_after;
    session->up.stall_at = options.stall_after;
    session->down.stall_at = options.stall_downstream_after;
    session->up.record_fd = g_record_fd;
    session->down.record_fd = g_record_downstream_fd;
  }
  if (options.flip_every) session->up.corrupter.emplace(*options.flip_every);
  session->up.clear_capabilities =
      static_cast<std::uint32_t>(options.clear_capabilities.value_or(0));
  session->up.rate = options.rate;
  session->down.rate = options.rate;
  return session;
}

// Opens a --record file (created 0600 or truncated); -1 after saying why.
int open_record(const std::string& path, const char* option) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "ft_test_proxy: %s %s: %s\n", option, path.c_str(), std::strerror(errno));
  }
  return fd;
}

int run(const Options& options) {
  if (!options.replay_path.empty()) return replay(options);
  if (!options.record_path.empty()) {
    g_record_fd = open_record(options.record_path, "--record");
    if (g_record_fd < 0) return kExitFailure;
  }
  if (!options.record_downstream_path.empty()) {
    g_record_downstream_fd = open_record(options.record_downstream_path, "--record-downstream");
    if (g_record_downstream_fd < 0) return kExitFailure;
  }
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 64) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      !set_nonblocking(listener)) {
    std::fprintf(stderr, "ft_test_proxy: cannot listen on 127.0.0.1: %s\n", std::strerror(errno));
    return kExitFailure;
  }
  std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(ntohs(address.sin_port)));
  std::fflush(stdout);

  std::vector<std::unique_ptr<Session>> sessions;
  int next_id = 1;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({g_signal_pipe[0], POLLIN, 0});
    fds.push_back({listener, POLLIN, 0});
    for (const auto& session : sessions) {
      short client_events = events_for(*session, session->up, session->down);
      short server_events = events_for(*session, session->down, session->up);
      // A negative fd is ignored by poll(): this keeps a hung-up socket we
      // want nothing from from waking the loop over and over.
      fds.push_back({client_events ? session->client : -1, client_events, 0});
      fds.push_back({server_events ? session->server : -1, server_events, 0});
    }
    // A rate-limited direction is let through a little more every tick,
    // whether or not a socket has news.
    if (poll(fds.data(), fds.size(), options.rate ? kRateTickMs : -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "ft_test_proxy: poll: %s\n", std::strerror(errno));
      return kExitFailure;
    }
    if (fds[0].revents != 0) {
      bool stop = false;
      bool release = false;
      char bytes[64];
      ssize_t got = 0;
      while ((got = read(g_signal_pipe[0], bytes, sizeof bytes)) > 0) {
        for (ssize_t i = 0; i < got; ++i) {
          if (bytes[i] == kReleaseByte) release = true;
          if (bytes[i] == kStopByte) stop = true;
        }
      }
      if (stop) break;
      if (release) {
        for (auto& session : sessions) {
          if (session->stalled) {
            std::fprintf(stderr, "ft_test_proxy: connection %d: released\n", session->id);
            std::fflush(stderr);
          }
          session->release();
          pump(*session);
        }
      }
    }

    for (std::size_t i = 0; i < sessions.size(); ++i) {
      if (fds[2 + 2 * i].revents != 0 || fds[3 + 2 * i].revents != 0 || options.rate) {
        pump(*sessions[i]);
      }
    }
    if (fds[1].revents & POLLIN) {
      int id = next_id++;
      if (auto session = open_session(listener, options, id)) {
        std::fprintf(stderr, "ft_test_proxy: connection %d: opened\n", id);
        std::fflush(stderr);
        pump(*session);
        sessions.push_back(std::move(session));
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        std::fprintf(stderr, "ft_test_proxy: connection %d: %s\n", id, std::strerror(errno));
        std::fflush(stderr);
      }
    }
    std::erase_if(sessions, [](const std::unique_ptr<Session>& session) {
      if (!session->finished()) return false;
      report(*session);
      return true;
    });
  }
  for (const auto& session : sessions) report(*session);
  close(listener);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = proxy::parse_options(argc, argv);
  if (!options) {
    proxy::usage(argv[0]);
    return kExitUsage;
  }
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("ft_test_proxy: pipe2");
    return kExitFailure;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return run(*options);
}
