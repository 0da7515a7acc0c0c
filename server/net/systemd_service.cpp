#include "server/net/systemd_service.hpp"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "server/net/server.hpp"

namespace ft::server {

int take_inherited_listener(std::string& why) {
  // unset_environment=1: programs ftserve might start never see sockets
  // that are not theirs. sd_listen_fds also sets FD_CLOEXEC on them.
  const int count = sd_listen_fds(1);
  if (count < 0) {
    why = std::string("LISTEN_FDS: ") + std::strerror(-count);
    return -1;
  }
  if (count == 0) return -1;
  if (count > 1) {
    why = std::to_string(count) +
          " sockets passed by systemd; ftserve serves one (keep one ListenStream= in "
          "ftserve.socket: [::]:7070 takes IPv4 and IPv6)";
    return -1;
  }
  const int fd = SD_LISTEN_FDS_START;
  // Accept=yes would pass a connected socket, ListenDatagram= a UDP one:
  // neither can be listened on.
  if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
    why =
        "the socket passed by systemd is not a listening TCP socket (ftserve.socket needs "
        "ListenStream= and Accept=no)";
    return -1;
  }
  return fd;
}

void SystemdNotifier::ready(Server& server, const std::string& status) {
  if (ready_) return;
  ready_ = true;
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
  server.on_stop([this] { stopping(); });
  std::uint64_t usec = 0;
  // A ping every half interval, as sd_watchdog_enabled(3) advises. The
  // timer runs on the loop: a loop stuck in a callback stops the pings
  // and systemd restarts the service.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
    watchdog_.init(loop_, uv_timer_init);
    watchdog_.set_data(this);
    const std::uint64_t half_ms = usec / 2000;
    uv_timer_start(watchdog_.get(), on_watchdog, half_ms, half_ms);
    // The pings never keep the loop alive: the server's own handles do.
    uv_unref(watchdog_.handle());
  }
}

void SystemdNotifier::stopping() {
  if (!ready_ || stopped_) return;
  stopped_ = true;
  watchdog_.close();
  sd_notify(0, "STOPPING=1");
}

void SystemdNotifier::on_watchdog(uv_timer_t*) noexcept {
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace ft::server
