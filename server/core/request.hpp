#pragma once
// A request in flight on a session (PUT, GET, LIST or STAT). The session
// routes the request's later frames to it and tells it when it must stop.
#include <cstdint>
#include <string>

#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"

namespace ft::server {

class Request {
 public:
  virtual ~Request() = default;
  /// A DATA or END frame for this request id. Only uploads accept them; the
  /// default treats them as a protocol violation (returns false).
  virtual bool on_frame(Frame& frame) {
    (void)frame;
    return false;
  }
  /// Why the last on_frame() returned false, for the connection's ERROR and
  /// the log (docs/protocol.md, section 7: every DATA/END violation names
  /// its reason).
  virtual std::string frame_violation() const { return "which is not an upload"; }
  /// NEXT (PACED): the client asks for the next window of a paced LIST.
  /// False if this request is no listing paused at a window's end.
  virtual bool resume() { return false; }
  /// The session's send queue drained below its low-water mark.
  virtual void on_writable() {}
  /// Whether the request waits for work on the thread pool (a write, a
  /// sync, a directory hash): the connection is making progress even when
  /// no byte moves (the session's no-progress timeout).
  virtual bool waiting_on_disk() const = 0;
  /// Stop now: the client cancelled (reply with `code`), or the connection
  /// is going away (`notify` false: nothing more is sent). Removes any
  /// temporary file; never completes the request successfully afterwards.
  virtual void abort(ErrorCode code, bool notify) = 0;
};

}  // namespace ft::server
