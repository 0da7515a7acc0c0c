// ft_test_proxy --replay FILE (described at the top of ft_test_proxy.cpp):
// not a proxy but a client that plays back a recorded session.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "proxy_options.hpp"

namespace proxy {

int replay(const Options& options) {
  std::string bytes;
  {
    int fd = open(options.replay_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "ft_test_proxy: --replay %s: %s\n", options.replay_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
      bytes.append(chunk, static_cast<std::size_t>(n));
    close(fd);
  }
  int fd = socket(options.target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 ||
      connect(fd, reinterpret_cast<const sockaddr*>(&options.target), options.target_length) != 0) {
    std::fprintf(stderr, "ft_test_proxy: connect to %s: %s\n", options.target_text.c_str(),
                 std::strerror(errno));
    return 1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::size_t sent = 0;
  std::uint64_t received = 0;
  bool closed = false;
  constexpr int kReplayDeadlineMs = 10'000;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!closed) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1'000'000;
    if (elapsed >= kReplayDeadlineMs) break;
    pollfd p{fd, POLLIN, 0};
    if (sent < bytes.size()) p.events |= POLLOUT;
    if (poll(&p, 1, static_cast<int>(kReplayDeadlineMs - elapsed)) <= 0) continue;
    if ((p.revents & POLLOUT) != 0 && sent < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) closed = true;  // reset: closed
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char chunk[65536];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n > 0) received += static_cast<std::uint64_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) closed = true;
    }
  }
  close(fd);
  std::printf("replay: sent=%zu received=%llu %s\n", sent,
              static_cast<unsigned long long>(received), closed ? "closed" : "open");
  std::fflush(stdout);
  return closed ? 0 : 1;
}

}  // namespace proxy
