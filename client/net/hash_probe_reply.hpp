#pragma once
// The reply to a hash probe: a GET at offset = size, which asks a remote
// file's size and mtime (GET_READY) and its XXH3-128 (END) without a byte
// of its content (docs/protocol.md, GET). Two callers ask it: an upload
// that met BUSY, to learn whether its earlier connection already committed
// the file (put_probe.cpp), and `ftsend --checksum` in a directory too big
// to list at once (tree_upload_huge.cpp). This reads the reply's frames in
// one place, so both refuse the same hostile replies.
#include <optional>
#include <string>

#include "common/crypto/checksum.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

class HashProbeReply {
 public:
  /// What the frame just read means to the caller.
  enum class Step {
    kPending,    // nothing to do yet
    kCancel,     // GET_READY describes another file: send CANCEL for the GET
    kHash,       // END: the file's hash, hash()
    kUnknown,    // the reply ended without a hash the caller can use
    kMissing,    // ERROR NOT_FOUND before any other file was seen
    kViolation,  // a protocol error, violation()
  };

  /// `remote`: the path the GET asked about (an ERROR must name it or none).
  explicit HashProbeReply(std::string remote) : remote_(std::move(remote)) {}

  /// Reads the next frame of the reply. `is_wanted` says whether the
  /// GET_READY describes the file the caller asked about (by size, or size
  /// and mtime); when it does not, the answer is kCancel once, and every
  /// frame after it until the last is swallowed, which then answers
  /// kUnknown.
  template <typename IsWanted>
  Step read(const Frame& frame, IsWanted&& is_wanted) {
    if (frame.header.type == FrameType::kGetReady) {
      auto ready = decode_get_ready(frame.payload);
      if (!ready) return violate("malformed GET_READY");
      if (cancelled_ || is_wanted(*ready)) return Step::kPending;
      cancelled_ = true;
      return Step::kCancel;
    }
    return read_after_ready(frame);
  }

  const Hash128& hash() const { return hash_; }
  const std::string& violation() const { return violation_; }
  /// True when the reply's last frame (END or ERROR) was read.
  bool finished() const { return finished_; }
  /// True once kCancel was answered.
  bool cancelled() const { return cancelled_; }

 private:
  Step read_after_ready(const Frame& frame);
  Step violate(std::string why) {
    violation_ = std::move(why);
    return Step::kViolation;
  }

  std::string remote_;
  Hash128 hash_{};
  std::string violation_;
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace ft::client
