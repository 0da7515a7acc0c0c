// ft_fake_server: a malicious ft server for the integration tests. It speaks
// the real handshake (offering RESUME and TREES) and frames, but serves a
// made-up tree and lies in its replies, to check that a client writes
// nothing outside its destination, applies no mode bits beyond 0777,
// refuses the absurd and prints every string it receives escaped.
//
//   ft_fake_server [--scenario NAME]
//
// It listens on 127.0.0.1 with an ephemeral port, prints exactly one line
// `listening on 127.0.0.1:PORT` on stdout once bound, and serves connections
// one after the other until SIGTERM or SIGINT (exit status 0). Every request
// it receives is logged on stderr as `request TYPE path="..."`.
//
// Scenarios (the tree is rooted at the remote directory "dir"):
//   hostile  (default) LIST answers names such as "../escape", "/abs", "a/b",
//            "..", ".", "", ".ft-part.x", a name with ESC, and symlinks
//            leading out ("../../etc", "/etc") beside good entries
//            ("good.txt", "...", "sub/inner.txt", a link "good-link" ->
//            "good.txt").
//   chain    links that each look inside the tree on their own, but chain
//            out of it: "sub/b" -> ".." and "a" -> "sub/b/.." (lexically
//            "sub", physically the parent of the tree), then a directory
//            also named "a" holding "pwned".
//   deep     every directory holds "f" and a directory "sub", without end
//            (a client must stop at the depth limit).
//   wrongname  "dir" holds "file.txt", "localcode.txt" and "sub". Every
//            STAT answers about "other-name"; GET "dir/file.txt" answers
//            ERROR about "../../etc/passwd"; GET "dir/localcode.txt"
//            answers ERROR with the local-only code 1002; LIST "dir/sub"
//            answers ERROR about "etc". For uploads: a PUT of any
//            ".../localcode.txt" answers ERROR with code 1002, any other PUT
//            ERROR about "../../etc/passwd", and MKDIR ERROR about "etc".
//   extra    more bytes than declared: "more.txt" (one DATA twice the
//            declared size), "beyond.txt" (a second DATA past the declared
//            size), "overlap.txt" (the second DATA starts inside the
//            first), "bigend.txt" (END's size differs from GET_READY's),
//            beside a good "good.txt".
//   short    fewer bytes than declared: "short.txt" (half the DATA, then
//            END), "early.txt" (END at once), beside "good.txt"; GET
//            "dir/cut.txt" (not listed) sends half the DATA and hangs up.
//   absurd   "dir" lists "huge" (2^63 bytes), "max" (2^64-1 bytes) and
//            "ok.txt" twice (a file, then a directory); GET of "dir/huge"
//            or "dir/max" declares that size and sends a few bytes. LIST
//            "count" answers an ENTRIES whose count says 2^32-1 but holds
//            one entry; LIST "endless" answers ENTRIES frames flagged MORE
//            without end (the same 1000 names over and over, until the
//            client hangs up).
//   setuid   modes with set-id and sticky bits: "suid" 04755, "sgid-all"
//            06777, "sticky" 01644, directory "stickydir" 01777 holding
//            "inner" 02755; "dir" itself is 07777. GET declares the same.
//   ansi     names, link targets and ERROR messages carrying ESC [ and
//            ESC ] sequences, CR, BEL, the C1 CSI and bidi overrides:
//            GET "dir/err.txt" and LIST "dir/sub" answer such an ERROR;
//            GET "bye" answers it with request id 0 and hangs up.
//   symlink  a plain tree ("dir/file.txt", "dir/sub/inner.txt"), for a
//            destination that already holds symbolic links leading out.
//   signature  answers a DELTA PUT (docs/protocol.md, section 5.12) with a
//            SIGNATURE that breaks the rules, by the file's name: "many.bin"
//            more blocks than its basis has, "order.bin" a part out of
//            order, "rule.bin" a block size that is not the rule's,
//            "count.bin" a count that does not match its payload,
//            "early.bin" PUT_READY before the whole signature; any other
//            PUT gets a SIGNATURE although it did not ask for one.
// Unless said otherwise, GET of any path answers the bytes "payload:PATH"
// with valid checksums and the mode of its entry (0644 when unlisted);
// MKDIR, SYMLINK and PUT are refused.
//
// Plain POSIX sockets and blocking I/O (one connection at a time): the tool
// must stay simpler than the code it tests. The codec comes from ft_common.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"
#include "fake_scenarios.hpp"

namespace {

using namespace fake;  // the scenarios: their constants and trees

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

bool send_all(int fd, const ft::Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR && !g_stop) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void log_request(const char* type, const std::string& path) {
  std::fprintf(stderr, "request %s path=\"", type);
  for (unsigned char c : path) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      std::fprintf(stderr, "\\x%02x", c);
    } else {
      std::fputc(c, stderr);
    }
  }
  std::fprintf(stderr, "\"\n");
  std::fflush(stderr);
}

// What answering one request produced: frames to send, and whether the
// connection ends after them.
struct Reply {
  int fd = -1;
  ft::Bytes out;
  bool hang_up = false;
};

void answer_error(ft::Bytes& out, std::uint32_t id, ft::ErrorCode code, const std::string& path,
                  const std::string& message = "refused") {
  ft::encode_error(out, id, ft::ErrorMsg{static_cast<std::uint16_t>(code), path, message});
}

// ENTRIES flagged MORE, kEndlessBatch entries each (the same names again
// and again: the frame is encoded once), until the client stops reading
// (the send fails) or a stop signal.
void stream_endless_listing(Reply& reply, std::uint32_t id) {
  if (!send_all(reply.fd, reply.out)) return;
  reply.out.clear();
  std::vector<Entry> batch;
  for (std::size_t i = 0; i < kEndlessBatch; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%06zu", i);
    batch.push_back(sized_file(name, 1));
  }
  ft::Bytes frame;
  ft::encode_entries(frame, id, batch);
  frame[1] |= ft::kFlagMore;  // one frame per batch: it lacks the flag as the last one
  for (std::size_t sent = 0; sent < kEndlessLimit && !g_stop; sent += kEndlessBatch) {
    if (!send_all(reply.fd, frame)) break;
  }
  reply.hang_up = true;
}

// The signature scenario: a SIGNATURE that breaks one rule, then PUT_READY.
void answer_bad_signature(ft::Bytes& out, std::uint32_t id, const ft::PutMsg& put) {
  const std::uint64_t basis = std::uint64_t{1} << 30;  // 16,384 blocks of 64 KiB
  ft::delta::SignaturePart part;
  part.basis_size = basis;
  part.block_size = ft::delta::block_size_for(basis);
  part.blocks.resize(ft::delta::kBlocksPerFrame);
  const std::string& path = put.path;
  if (path.ends_with("/many.bin")) {
    for (std::uint32_t first = 0; first <= ft::delta::kMaxBlocks;
         first += ft::delta::kBlocksPerFrame) {
      part.first_block = first;
      ft::encode_signature(out, id, part);
    }
  } else if (path.ends_with("/order.bin")) {
    part.first_block = 5;
    ft::encode_signature(out, id, part);
  } else if (path.ends_with("/rule.bin")) {
    part.block_size = 4096;
    ft::encode_signature(out, id, part);
  } else if (path.ends_with("/count.bin")) {
    ft::Bytes frame;
    ft::encode_signature(frame, id, part);
    ft::store_be32(frame.data() + ft::limits::kFrameHeaderSize + 16, 4095);
    out.insert(out.end(), frame.begin(), frame.end());
  } else {
    // early.bin, or a PUT that did not ask: one part of four.
    ft::encode_signature(out, id, part);
  }
  ft::encode_put_ready(out, id, ft::PutReadyMsg{0, ft::hash128({})});
}

// GET with the faults of the scenario; false: not a special path.
bool answer_faulty_get(Scenario scenario, std::uint32_t id, const std::string& path, Reply& reply) {
  ft::Bytes& out = reply.out;
  const std::string bytes = payload_for(path);
  const ft::ByteSpan all = span_of(bytes);
  const std::uint64_t whole = bytes.size();
  const std::uint64_t half = whole / 2;
  auto ready = [&](std::uint64_t size) {
    ft::encode_get_ready(out, id, ft::GetReadyMsg{size, kMtime, 0644, ft::limits::kMinChunkSize});
  };
  auto data = [&](std::uint64_t from, std::uint64_t to) {
    ft::encode_data(out, id, from, all.subspan(from, to - from));
  };
  auto end = [&](std::uint64_t size, ft::ByteSpan hashed) {
    ft::encode_end(out, id, ft::EndMsg{size, ft::hash128(hashed)});
  };
  switch (scenario) {
    case Scenario::kWrongName:
      if (path == "dir/localcode.txt") {
        answer_error(out, id, static_cast<ft::ErrorCode>(1002), path);
      } else {
        answer_error(out, id, ft::ErrorCode::NOT_FOUND, "../../etc/passwd");
      }
      return true;
    case Scenario::kExtra:
      if (path == "dir/more.txt") {
        ready(half);
        data(0, whole);
        end(whole, all);
      } else if (path == "dir/beyond.txt") {
        ready(half);
        data(0, half);
        data(half, whole);
        end(whole, all);
      } else if (path == "dir/overlap.txt") {
        ready(whole);
        data(0, half);
        data(half - 3, whole);
        end(whole, all);
      } else if (path == "dir/bigend.txt") {
        ready(half);
        data(0, half);
        end(whole, all.subspan(0, half));
      } else {
        return false;
      }
      return true;
    case Scenario::kShort:
      if (path == "dir/short.txt") {
        ready(whole);
        data(0, half);
        end(whole, all);
      } else if (path == "dir/early.txt") {
        ready(whole);
        end(whole, all);
      } else if (path == "dir/cut.txt") {
        ready(whole);
        data(0, half);
        reply.hang_up = true;
      } else {
        return false;
      }
      return true;
    case Scenario::kAbsurd:
      if (path == "dir/huge" || path == "dir/max") {
        ready(path == "dir/huge" ? kHugeSize : kMaxSize);
        data(0, whole);
        end(whole, all);
        return true;
      }
      return false;
    case Scenario::kAnsi:
      if (path == "dir/err.txt") {
        answer_error(out, id, ft::ErrorCode::IO_ERROR, path, kAnsiMessage);
        return true;
      }
      if (path == "bye") {
        answer_error(out, 0, ft::ErrorCode::INTERNAL, "", kAnsiMessage);
        reply.hang_up = true;
        return true;
      }
      return false;
    default:
      return false;
  }
}

// Answers one request frame into `reply`; false ends the connection at once.
bool answer(Scenario scenario, const ft::Frame& frame, Reply& reply) {
  const std::uint32_t id = frame.header.request_id;
  ft::Bytes& out = reply.out;
  switch (frame.header.type) {
    case ft::FrameType::kList: {
      auto msg = ft::decode_path_msg(frame.payload);
      if (!msg) return false;
      log_request("LIST", msg->path);
      if (scenario == Scenario::kAbsurd && msg->path == "count") {
        // One entry, but a count that says 2^32-1 of them.
        ft::Bytes entries;
        ft::encode_entries(entries, id, {sized_file("one", 1)});
        std::memset(entries.data() + ft::limits::kFrameHeaderSize, 0xff, 4);
        out.insert(out.end(), entries.begin(), entries.end());
        return true;
      }
      if (scenario == Scenario::kAbsurd && msg->path == "endless") {
        stream_endless_listing(reply, id);
        return true;
      }
      if (scenario == Scenario::kWrongName && msg->path == "dir/sub") {
        answer_error(out, id, ft::ErrorCode::NOT_FOUND, "etc");
        return true;
      }
      if (scenario == Scenario::kAnsi && msg->path == "dir/sub") {
        answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, msg->path, kAnsiMessage);
        return true;
      }
      auto entries = listing(scenario, msg->path);
      if (!entries) {
        const bool is_file = stat_entry(scenario, msg->path).has_value();
        answer_error(out, id, is_file ? ft::ErrorCode::NOT_A_DIRECTORY : ft::ErrorCode::NOT_FOUND,
                     msg->path);
        return true;
      }
      const auto fields =
          static_cast<std::uint8_t>(frame.header.flags & (ft::kFlagHashes | ft::kFlagTargets));
      for (auto& e : *entries) {
        if (e.type == EntryType::kFile) {
          e.content_hash = ft::hash128(span_of(payload_for(msg->path + "/" + e.name)));
        }
      }
      ft::encode_entries(out, id, *entries, fields);
      return true;
    }
    case ft::FrameType::kStat: {
      auto msg = ft::decode_path_msg(frame.payload);
      if (!msg) return false;
      log_request("STAT", msg->path);
      auto entry = stat_entry(scenario, msg->path);
      if (!entry) {
        answer_error(out, id, ft::ErrorCode::NOT_FOUND, msg->path);
        return true;
      }
      if (scenario == Scenario::kWrongName) entry->name = "other-name";
      ft::encode_entries(out, id, {*entry});
      return true;
    }
    case ft::FrameType::kGet: {
      auto msg = ft::decode_get(frame.payload);
      if (!msg) return false;
      log_request("GET", msg->path);
      if (answer_faulty_get(scenario, id, msg->path, reply)) return true;
      const std::string bytes = payload_for(msg->path);
      if (msg->offset > bytes.size()) {
        answer_error(out, id, ft::ErrorCode::BAD_OFFSET, msg->path);
        return true;
      }
      const ft::ByteSpan all = span_of(bytes);
      auto entry = stat_entry(scenario, msg->path);
      const std::uint32_t mode = entry ? entry->mode : 0644;
      ft::encode_get_ready(out, id,
                           ft::GetReadyMsg{bytes.size(), kMtime, mode, ft::limits::kMinChunkSize});
      if (msg->offset < bytes.size())
        ft::encode_data(out, id, msg->offset, all.subspan(msg->offset));
      ft::encode_end(out, id, ft::EndMsg{bytes.size(), ft::hash128(all)});
      return true;
    }
    case ft::FrameType::kPut: {
      auto msg = ft::decode_put(frame.payload);
      log_request("PUT", msg ? msg->path : "?");
      if (scenario == Scenario::kWrongName && msg) {
        // The upload side must check ERRORs as the download side does.
        if (msg->path.ends_with("/localcode.txt")) {
          answer_error(out, id, static_cast<ft::ErrorCode>(1002), msg->path);
        } else {
          answer_error(out, id, ft::ErrorCode::NOT_FOUND, "../../etc/passwd");
        }
        return true;
      }
      if (scenario == Scenario::kSignature && msg) {
        answer_bad_signature(out, id, *msg);
        return true;
      }
      answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, msg ? msg->path : "");
      return true;
    }
    case ft::FrameType::kMkdir: {
      auto msg = ft::decode_mkdir(frame.payload);
      log_request("MKDIR", msg ? msg->path : "?");
      if (scenario == Scenario::kWrongName) {
        answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, "etc");
        return true;
      }
      answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, msg ? msg->path : "");
      return true;
    }
    case ft::FrameType::kSymlink: {
      auto msg = ft::decode_symlink(frame.payload);
      log_request("SYMLINK", msg ? msg->path : "?");
      answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, msg ? msg->path : "");
      return true;
    }
    case ft::FrameType::kCancel:
      // Every answer above is complete at once: a CANCEL always comes late.
      return true;
    case ft::FrameType::kData:
    case ft::FrameType::kEnd:
      // An eager upload's bytes, following a PUT already refused above.
      return true;
    default:
      return false;
  }
}

void serve(int fd, Scenario scenario) {
  ft::FrameDecoder decoder(ft::FrameDecoder::Options{.sender = ft::Sender::kClient});
  std::vector<std::uint8_t> buffer(64 * 1024);
  while (!g_stop) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    ft::ByteSpan rest(buffer.data(), static_cast<std::size_t>(n));
    while (!rest.empty()) {
      std::size_t taken = decoder.feed(rest);
      rest = rest.subspan(taken);
      Reply reply{fd, {}, false};
      for (;;) {
        auto status = decoder.next();
        if (status == ft::DecodeStatus::kNeedMore) break;
        if (status == ft::DecodeStatus::kError) {
          std::fprintf(stderr, "decode error: %s\n", decoder.error().reason.c_str());
          return;
        }
        if (status == ft::DecodeStatus::kHello) {
          // The scenarios hand-craft frames without check blocks: the fake
          // plays a server from before FRAME_CHECK, which the clients must
          // still serve (docs/protocol.md section 3.1). Nor does it know
          // DELTA_GET: ftget must fetch plainly from such a server; nor
          // DELTA_EARLY: its signatures come before PUT_READY.
          const auto caps = decoder.hello().capabilities & ft::kKnownCapabilities &
                            ~ft::kCapFrameCheckPair &
                            ~(ft::kCapArchive | ft::kCapSparse | ft::kCapOwners | ft::kCapDeltaGet |
                              ft::kCapDeltaEarly);
          ft::encode_hello(reply.out, ft::Hello{ft::kProtocolVersion, ft::kProtocolVersion, caps});
          continue;
        }
        if (!answer(scenario, decoder.take_frame(), reply)) return;
        if (reply.hang_up) break;
      }
      if (!reply.out.empty() && !send_all(fd, reply.out)) return;
      if (reply.hang_up) return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Scenario scenario = Scenario::kHostile;
  // Arguments come in pairs: --scenario NAME.
  for (int i = 1; i < argc; i += 2) {
    const std::string arg = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    bool known = false;
    for (const auto& [name, which] : kScenarios) {
      if (arg == "--scenario" && value == name) {
        scenario = which;
        known = true;
      }
    }
    if (!known) {
      std::fprintf(stderr, "usage: %s [--scenario NAME]; NAME is one of:", argv[0]);
      for (const auto& [name, which] : kScenarios) std::fprintf(stderr, " %s", name);
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 16) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("ft_fake_server: listen");
    return 4;
  }
  std::printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
  std::fflush(stdout);

  while (!g_stop) {
    struct pollfd fd = {listener, POLLIN, 0};
    if (::poll(&fd, 1, -1) <= 0) continue;  // EINTR from the stop signal
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    serve(client, scenario);
    ::close(client);
  }
  ::close(listener);
  return 0;
}
