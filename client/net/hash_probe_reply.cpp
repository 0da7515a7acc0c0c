#include "client/net/hash_probe_reply.hpp"

#include "client/net/server_reply.hpp"

namespace ft::client {

HashProbeReply::Step HashProbeReply::read_after_ready(const Frame& frame) {
  switch (frame.header.type) {
    case FrameType::kData:
      if (cancelled_) return Step::kPending;
      // Equal sizes and an offset at the end leave nothing to send.
      return violate("DATA past the end of " + printable(remote_));
    case FrameType::kEnd: {
      auto end = decode_end(frame.payload);
      if (!end) return violate("malformed END");
      finished_ = true;
      if (cancelled_) return Step::kUnknown;
      hash_ = end->file_hash;
      return Step::kHash;
    }
    case FrameType::kError: {
      ErrorReply reply = read_error_reply(frame, remote_, remote_);
      if (reply.violation) return violate(*reply.violation);
      finished_ = true;
      // Gone: a new file for the caller. Any other refusal (no read
      // right, cancelled): unknown content.
      if (reply.failure.code == ErrorCode::NOT_FOUND && !cancelled_) return Step::kMissing;
      return Step::kUnknown;
    }
    default:
      return violate(unexpected_frame(frame, "in reply to GET"));
  }
}

}  // namespace ft::client
