#pragma once
// One request at a time over a hand-driven connection (a RawClient, in the
// clear or, with keyed(), through TLS): each helper sends one request and
// answers "OK" (or the content, for get) or the name of the error code.
#include <string>

#include "common/crypto/checksum.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::testing {

/// The error code name of an ERROR frame, "OK", or what came instead.
inline std::string reply_name(const std::optional<Frame>& frame) {
  if (!frame) return "NO_REPLY";
  if (frame->header.type == FrameType::kOk) return "OK";
  if (frame->header.type == FrameType::kPutReady) return "PUT_READY";
  if (frame->header.type == FrameType::kError) {
    auto error = decode_error(frame->payload);
    return error ? to_string(static_cast<ErrorCode>(error->code)) : "MALFORMED_ERROR";
  }
  return "FRAME_" + std::to_string(static_cast<int>(frame->header.type));
}

inline ByteSpan span_of(const std::string& text) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

/// A whole upload of `content` with `mode` (eager: PUT, DATA and END at once).
template <class Client>
std::string put_file(Client& client, std::uint32_t id, const std::string& path,
                     const std::string& content, std::uint32_t mode = 0644, bool eager = false) {
  Bytes out;
  encode_put(out, id,
             PutMsg{path, content.size(), mode, 1700000000000000000, limits::kDefaultChunkSize,
                    eager ? kPutEager : 0u, ""});
  if (!eager) {
    client.send(out);
    auto ready = client.read_frame();
    if (reply_name(ready) != "PUT_READY") return reply_name(ready);
    out.clear();
  }
  if (!content.empty()) encode_data(out, id, 0, span_of(content));
  encode_end(out, id, EndMsg{content.size(), hash128(span_of(content))});
  client.send(out);
  return reply_name(client.read_frame());
}

template <class Client>
std::string make_dir(Client& client, std::uint32_t id, const std::string& path, std::uint32_t mode,
                     std::int64_t mtime_ns = 0, std::uint32_t flags = 0) {
  Bytes out;
  encode_mkdir(out, id, MkdirMsg{path, mode, mtime_ns, flags});
  client.send(out);
  return reply_name(client.read_frame());
}

template <class Client>
std::string make_link(Client& client, std::uint32_t id, const std::string& path,
                      const std::string& target) {
  Bytes out;
  encode_symlink(out, id, SymlinkMsg{path, target, 1500000000000000000});
  client.send(out);
  return reply_name(client.read_frame());
}

/// The file's content, or "ERROR:<code>" / "NO_REPLY".
template <class Client>
std::string get_file(Client& client, std::uint32_t id, const std::string& path) {
  Bytes out;
  encode_get(out, id, GetMsg{path, 0});
  client.send(out);
  auto ready = client.read_frame();
  if (!ready || ready->header.type != FrameType::kGetReady) return "ERROR:" + reply_name(ready);
  std::string content;
  for (;;) {
    auto frame = client.read_frame();
    if (!frame) return "NO_REPLY";
    if (frame->header.type == FrameType::kEnd) return content;
    if (frame->header.type != FrameType::kData) return "ERROR:" + reply_name(frame);
    auto data = decode_data(frame->payload);
    if (!data) return "MALFORMED_DATA";
    content.append(reinterpret_cast<const char*>(data->bytes.data()), data->bytes.size());
  }
}

}  // namespace ft::testing
