#pragma once
// Plaintext notices (docs/protocol.md, section 10.2): a hello and an ERROR
// on request id 0, written once before closing a connection the server will
// not serve (full, or a plain client on a TLS server).
#include <uv.h>

#include <string>

#include "common/base/bytes.hpp"
#include "common/rules/errors.hpp"

namespace ft::server {

/// The bytes of a notice: a hello carrying our own version range, then
/// ERROR(0, code, message).
Bytes plaintext_notice(ErrorCode code, const std::string& message);

/// Writes `bytes` now if the socket takes them (best effort, no queueing),
/// then reads and drops what the peer already sent, so that closing sends a
/// FIN rather than a reset that could destroy the notice on its way.
void write_last_words(uv_stream_t* stream, const Bytes& bytes);

/// Accepts the pending connection of `listener` without a session, writes
/// the notice and closes it. Costs a few hundred bytes until the close
/// callback of the same loop turn.
void refuse_connection(uv_loop_t* loop, uv_stream_t* listener, ErrorCode code,
                       const std::string& message);

}  // namespace ft::server
