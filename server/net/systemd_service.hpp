#pragma once
// ftserve as a systemd service (docs/service.md): the listening socket
// systemd passes (socket activation, ftserve.socket) and the notifications
// of a Type=notify unit: READY=1 once serving, STOPPING=1 when told to
// stop, WATCHDOG=1 while the loop turns. Outside systemd (no LISTEN_FDS, no
// NOTIFY_SOCKET) nothing is inherited and every notification is a no-op.
#include <uv.h>

#include <string>

#include "uvx/handle.hpp"

namespace ft::server {

class Server;

/// Takes the listening socket systemd passed (sd_listen_fds), once: its
/// descriptor, or -1 when none was passed. -1 with `why` filled when what
/// was passed cannot be served: more than one socket, or not a listening
/// TCP socket (ftserve.socket with Accept=yes, ListenDatagram=, ...).
int take_inherited_listener(std::string& why);

/// sd_notify for one Server's life on one loop.
class SystemdNotifier {
 public:
  explicit SystemdNotifier(uv_loop_t* loop) : loop_(loop) {}
  ~SystemdNotifier() { stopping(); }
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  /// READY=1 with `status` for `systemctl status`; starts the watchdog
  /// pings when the unit set WatchdogSec=, and sends stopping() when
  /// `server` stops (it must outlive neither this nor the loop run).
  void ready(Server& server, const std::string& status);
  /// STOPPING=1 and no more watchdog pings; later calls do nothing.
  void stopping();

 private:
  static void on_watchdog(uv_timer_t* timer) noexcept;

  uv_loop_t* loop_;
  uvx::Handle<uv_timer_t> watchdog_;
  bool ready_ = false;
  bool stopped_ = false;
};

}  // namespace ft::server
