// ft_fake_server: a malicious ft server for the integration tests. It speaks
// the real handshake (offering RESUME and TREES) and frames, but serves a
// made-up tree whose names and link targets try to make a client write
// outside its destination directory.
//
//   ft_fake_server [--scenario hostile|chain|deep]
//
// It listens on 127.0.0.1 with an ephemeral port, prints exactly one line
// `listening on 127.0.0.1:PORT` on stdout once bound, and serves connections
// one after the other until SIGTERM or SIGINT (exit status 0). Every request
// it receives is logged on stderr as `request TYPE path="..."`.
//
// Scenarios (the tree is rooted at the remote directory "dir"):
//   hostile  LIST answers names such as "../escape", "/abs", "a/b", "..",
//            ".", "", ".ft-part.x", a name with ESC, and symlinks leading
//            out ("../../etc", "/etc") beside good entries ("good.txt",
//            "...", "sub/inner.txt", a link "good-link" -> "good.txt").
//   chain    links that each look inside the tree on their own, but chain
//            out of it: "sub/b" -> ".." and "a" -> "sub/b/.." (lexically
//            "sub", physically the parent of the tree), then a directory
//            also named "a" holding "pwned".
//   deep     every directory holds "f" and a directory "sub", without end
//            (a client must stop at the depth limit).
// GET of any path answers the bytes "payload:PATH" with valid checksums,
// whatever the path; MKDIR, SYMLINK and PUT are refused.
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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frame.hpp"
#include "messages.hpp"

namespace {

using ft::Entry;
using ft::EntryType;

constexpr std::int64_t kMtime = 1600000000000000000;
constexpr std::size_t kMaxDeepLevels = 200;

enum class Scenario { kHostile, kChain, kDeep };

std::string payload_for(const std::string& path) {
  return "payload:" + path;
}

Entry file(const std::string& name, const std::string& parent) {
  return Entry{name, EntryType::kFile, payload_for(parent + "/" + name).size(), kMtime, 0644, {},
               {}};
}
Entry directory(const std::string& name) {
  return Entry{name, EntryType::kDirectory, 0, kMtime, 0755, {}, {}};
}
Entry symlink(const std::string& name, const std::string& target) {
  return Entry{name, EntryType::kSymlink, 0, kMtime, 0777, {}, target};
}

// The listing of every directory of the made-up tree; nullopt: not one.
std::optional<std::vector<Entry>> listing(Scenario scenario, const std::string& path) {
  switch (scenario) {
    case Scenario::kHostile:
      if (path == "dir") {
        return std::vector<Entry>{
            file("", path),
            file("../escape", path),
            file("/abs-escape", path),
            file("a/b", path),
            directory(".."),
            directory("."),
            file(".ft-part.x", path),
            file(".ft-part-meta.good.txt", path),
            file("ctl\x1b[31mred", path),
            file("...", path),
            file("good.txt", path),
            symlink("evil-link", "../../etc"),
            symlink("evil-abs", "/etc"),
            symlink("good-link", "good.txt"),
            directory("sub"),
            directory("../updir"),
        };
      }
      if (path == "dir/sub") {
        return std::vector<Entry>{file("../../escape2", path), file("inner.txt", path)};
      }
      return std::nullopt;
    case Scenario::kChain:
      if (path == "dir") {
        return std::vector<Entry>{symlink("a", "sub/b/.."), directory("a"), directory("sub")};
      }
      if (path == "dir/sub") return std::vector<Entry>{symlink("b", "..")};
      if (path == "dir/a") return std::vector<Entry>{file("pwned", path)};
      return std::nullopt;
    case Scenario::kDeep: {
      // dir, dir/sub, dir/sub/sub, ... up to a bound that no client needs.
      std::string rest = path;
      if (rest.rfind("dir", 0) != 0) return std::nullopt;
      rest.erase(0, 3);
      std::size_t levels = 0;
      while (!rest.empty()) {
        if (rest.rfind("/sub", 0) != 0 || ++levels > kMaxDeepLevels) return std::nullopt;
        rest.erase(0, 4);
      }
      return std::vector<Entry>{file("f", path), directory("sub")};
    }
  }
  return std::nullopt;
}

// STAT: the directory itself, or its entry in the parent's listing.
std::optional<Entry> stat_entry(Scenario scenario, const std::string& path) {
  auto slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (listing(scenario, path)) return directory(name);
  if (slash == std::string::npos) return std::nullopt;
  auto parent = listing(scenario, path.substr(0, slash));
  if (!parent) return std::nullopt;
  for (const auto& e : *parent) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

bool send_all(int fd, const ft::Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void log_request(const char* type, const std::string& path) {
  std::fprintf(stderr, "request %s path=\"", type);
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      std::fprintf(stderr, "\\x%02x", c);
    } else {
      std::fputc(c, stderr);
    }
  }
  std::fprintf(stderr, "\"\n");
  std::fflush(stderr);
}

void answer_error(ft::Bytes& out, std::uint32_t id, ft::ErrorCode code, const std::string& path) {
  ft::encode_error(out, id, ft::ErrorMsg{static_cast<std::uint16_t>(code), path, "refused"});
}

// Answers one request frame into `out`; false ends the connection.
bool answer(Scenario scenario, const ft::Frame& frame, ft::Bytes& out) {
  const std::uint32_t id = frame.header.request_id;
  switch (frame.header.type) {
    case ft::FrameType::kList: {
      auto msg = ft::decode_path_msg(frame.payload);
      if (!msg) return false;
      log_request("LIST", msg->path);
      auto entries = listing(scenario, msg->path);
      if (!entries) {
        answer_error(out, id, ft::ErrorCode::NOT_FOUND, msg->path);
        return true;
      }
      const auto fields =
          static_cast<std::uint8_t>(frame.header.flags & (ft::kFlagHashes | ft::kFlagTargets));
      for (auto& e : *entries) {
        if (e.type == EntryType::kFile) {
          auto bytes = payload_for(msg->path + "/" + e.name);
          e.content_hash = ft::hash128(
              ft::ByteSpan(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
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
      ft::encode_entries(out, id, {*entry});
      return true;
    }
    case ft::FrameType::kGet: {
      auto msg = ft::decode_get(frame.payload);
      if (!msg) return false;
      log_request("GET", msg->path);
      const std::string bytes = payload_for(msg->path);
      if (msg->offset > bytes.size()) {
        answer_error(out, id, ft::ErrorCode::BAD_OFFSET, msg->path);
        return true;
      }
      const ft::ByteSpan all(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ft::encode_get_ready(out, id,
                           ft::GetReadyMsg{bytes.size(), kMtime, 0644, ft::limits::kMinChunkSize});
      if (msg->offset < bytes.size())
        ft::encode_data(out, id, msg->offset, all.subspan(msg->offset));
      ft::encode_end(out, id, ft::EndMsg{bytes.size(), ft::hash128(all)});
      return true;
    }
    case ft::FrameType::kPut: {
      auto msg = ft::decode_put(frame.payload);
      log_request("PUT", msg ? msg->path : "?");
      answer_error(out, id, ft::ErrorCode::PERMISSION_DENIED, msg ? msg->path : "");
      return true;
    }
    case ft::FrameType::kMkdir: {
      auto msg = ft::decode_mkdir(frame.payload);
      log_request("MKDIR", msg ? msg->path : "?");
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
      ft::Bytes out;
      for (;;) {
        auto status = decoder.next();
        if (status == ft::DecodeStatus::kNeedMore) break;
        if (status == ft::DecodeStatus::kError) {
          std::fprintf(stderr, "decode error: %s\n", decoder.error().reason.c_str());
          return;
        }
        if (status == ft::DecodeStatus::kHello) {
          const auto caps = decoder.hello().capabilities & ft::kKnownCapabilities;
          ft::encode_hello(out, ft::Hello{ft::kProtocolVersion, ft::kProtocolVersion, caps});
          continue;
        }
        if (!answer(scenario, decoder.take_frame(), out)) return;
      }
      if (!out.empty() && !send_all(fd, out)) return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Scenario scenario = Scenario::kHostile;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--scenario" && (value == "hostile" || value == "chain" || value == "deep")) {
      scenario = value == "hostile" ? Scenario::kHostile
                 : value == "chain" ? Scenario::kChain
                                    : Scenario::kDeep;
      ++i;
    } else {
      std::fprintf(stderr, "usage: %s [--scenario hostile|chain|deep]\n", argv[0]);
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
