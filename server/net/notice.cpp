#include "server/net/notice.hpp"

#include <sys/socket.h>

#include <memory>

#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"
#include "uvx/handle.hpp"

namespace ft::server {

Bytes plaintext_notice(ErrorCode code, const std::string& message) {
  Bytes out;
  encode_hello(out, Hello{});
  encode_error(out, 0, ErrorMsg{static_cast<std::uint16_t>(code), "", message});
  return out;
}

void write_last_words(uv_stream_t* stream, const Bytes& bytes) {
  if (!bytes.empty()) {
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(bytes.data())),
                               static_cast<unsigned>(bytes.size()));
    uv_try_write(stream, &buf, 1);
  }
  // Unread input makes close() answer with a reset, and a reset may reach
  // the peer before it read our words. Drop what is there (bounded).
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) != 0) return;
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  }
}

void refuse_connection(uv_loop_t* loop, uv_stream_t* listener, ErrorCode code,
                       const std::string& message) {
  // The handle's memory is freed by its close callback, later this turn.
  uvx::Handle<uv_tcp_t> tcp;
  if (tcp.init(loop, uv_tcp_init) != 0) return;
  if (uv_accept(listener, tcp.stream()) == 0) {
    write_last_words(tcp.stream(), plaintext_notice(code, message));
  }
  tcp.close();
}

}  // namespace ft::server
