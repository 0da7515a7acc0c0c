// FRAME_CHECK end to end (docs/protocol.md section 3.1, issue 17): the real
// clients through ft_test_proxy, which flips one bit of the first
// connection. A clean run is recorded first (both directions), its frames
// located, then each run flips one bit in a field of one frame: a header's
// request id or type, a path, a mode, an mtime, an offset, a size, a
// listing's name, a capability bit of a hello. Every run must end as the
// clean one did (exit 0, the same files under the same names and nothing
// else) after a retry, and say the connection was damaged; with
// --retries 0 it exits 4 and nothing is under any name.
#include <signal.h>

#include <algorithm>
#include <functional>
#include <map>

#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kConnection = static_cast<int>(Exit::kConnection);

/// Where one frame lies in a recorded stream.
struct WireFrame {
  FrameType type;
  std::uint64_t start;  // its first header byte
  Bytes payload;
};

/// The frames of a stream written by a peer that agreed FRAME_CHECK.
std::vector<WireFrame> frames_of(const std::string& stream, Sender sender) {
  FrameDecoder decoder(
      FrameDecoder::Options{.sender = sender, .expect_hello = true, .frame_check = true});
  std::vector<WireFrame> out;
  std::size_t fed = 0;
  std::uint64_t start = limits::kHelloSize;
  for (;;) {
    const DecodeStatus status = decoder.next();
    if (status == DecodeStatus::kError) {
      ADD_FAILURE() << "recorded stream: " << decoder.error().reason;
      return out;
    }
    if (status == DecodeStatus::kFrame) {
      Frame frame = decoder.take_frame();
      out.push_back({frame.header.type, start, std::move(frame.payload)});
      start = decoder.offset();
      continue;
    }
    if (status == DecodeStatus::kHello) continue;
    if (fed == stream.size()) return out;
    fed += decoder.feed(
        ByteSpan(reinterpret_cast<const std::uint8_t*>(stream.data()) + fed, stream.size() - fed));
  }
}

/// One bit to flip: in which direction, at which stream offset, and what
/// it damages (for the failure messages).
struct Flip {
  bool upstream;
  std::uint64_t at;
  int bit;
  std::string what;
};

constexpr std::size_t kPayload = limits::kFrameHeaderSize + limits::kFrameCheckSize;

/// Offset in a payload just past a str starting at `at`.
std::size_t after_str(const Bytes& payload, std::size_t at) {
  return at + 2 + ((std::size_t{payload[at]} << 8) | payload[at + 1]);
}

/// The flips that damage `frame`: its request id, then the fields that
/// would misname, misplace or misdate what it carries.
void flips_of(const WireFrame& frame, bool upstream, std::vector<Flip>& out) {
  const std::string name = frame_type_name(static_cast<std::uint8_t>(frame.type));
  const std::uint64_t payload = frame.start + kPayload;
  auto add = [&](std::uint64_t at, int bit, const std::string& field) {
    out.push_back({upstream, at, bit, name + " " + field});
  };
  add(frame.start + 7, 0, "request id");
  add(frame.start, 2, "type");
  const Bytes& p = frame.payload;
  switch (frame.type) {
    case FrameType::kPut: {
      const std::size_t path_end = after_str(p, 0);
      add(payload + path_end - 1, 0, "path");
      add(payload + path_end + 8 + 3, 1, "mode");
      add(payload + path_end + 12 + 7, 5, "mtime");
      break;
    }
    case FrameType::kGet: {
      const std::size_t path_end = after_str(p, 0);
      add(payload + path_end - 1, 0, "path");
      add(payload + path_end + 7, 0, "offset");
      break;
    }
    case FrameType::kList:
    case FrameType::kStat:
      add(payload + (p.size() > 2 ? p.size() - 1 : 1), 0, "path");
      break;
    case FrameType::kMkdir: {
      const std::size_t path_end = after_str(p, 0);
      add(payload + path_end - 1, 0, "path");
      add(payload + path_end + 3, 1, "mode");
      break;
    }
    case FrameType::kSymlink: {
      const std::size_t path_end = after_str(p, 0);
      add(payload + path_end - 1, 0, "path");
      add(payload + after_str(p, path_end) - 1, 0, "target");
      break;
    }
    case FrameType::kData:
    case FrameType::kEnd:
    case FrameType::kPutReady:
      add(payload + 7, 0, "offset or size");
      break;
    case FrameType::kGetReady:
      add(payload + 7, 0, "size");
      add(payload + 16 + 3, 1, "mode");
      break;
    case FrameType::kEntries:
      if (p.size() > 6) add(payload + 6, 0, "first name");
      break;
    default:
      break;
  }
}

class FrameCheckProxy : public ServerTest {
 protected:
  using Command = std::function<std::vector<std::string>(const std::string& base)>;

  void TearDown() override {
    if (proxy_.pid() > 0) proxy_.stop(SIGTERM);
    ServerTest::TearDown();
  }

  /// Runs `command` through a proxy with `flags`, then stops the proxy.
  RunResult through_proxy(const Command& command, const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {bin("ft_test_proxy"), "--target", remote()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::string error;
    EXPECT_TRUE(proxy_.start(argv, error)) << error;
    RunResult result = run(command(loopback_remote(proxy_.port())));
    proxy_.stop(SIGTERM);
    return result;
  }

  /// Runs `command` once without damage, recording both directions, and
  /// returns the flips of the first frame of each type in each direction
  /// (and of each hello's FRAME_CHECK bit).
  std::vector<Flip> record(const Command& command, RunResult& clean) {
    const fs::path up = work_.path() / "up.bin";
    const fs::path down = work_.path() / "down.bin";
    clean = through_proxy(command, {"--record", up.string(), "--record-downstream", down.string()});
    EXPECT_EQ(clean.exit_code, 0) << clean.err;
    std::vector<Flip> flips = {{true, 15, 3, "client hello FRAME_CHECK bit"},
                               {false, 15, 4, "server hello FRAME_CHECK_CONFIRM bit"}};
    for (bool upstream : {true, false}) {
      std::map<FrameType, bool> seen;
      const auto frames =
          frames_of(read_file(upstream ? up : down), upstream ? Sender::kClient : Sender::kServer);
      EXPECT_FALSE(frames.empty());
      for (const WireFrame& frame : frames) {
        if (seen[frame.type]) continue;
        seen[frame.type] = true;
        flips_of(frame, upstream, flips);
      }
    }
    return flips;
  }

  /// Each flip of a clean run of `command`: the run retries and ends as the
  /// clean one did (`check` compares the outcome), having said why. A
  /// command without retries (`retries` false: ftls) exits 4 instead,
  /// having printed nothing the clean run did not.
  void each_flip_recovers(
      const Command& command, const std::function<void()>& reset,
      const std::function<void(const RunResult& clean, const RunResult&)>& check,
      const std::vector<FrameType>& must_cover, bool retries = true) {
    RunResult clean;
    const std::vector<Flip> flips = record(command, clean);
    for (FrameType type : must_cover) {
      const std::string name = frame_type_name(static_cast<std::uint8_t>(type));
      bool covered = false;
      for (const Flip& flip : flips) covered = covered || flip.what.rfind(name + " ", 0) == 0;
      EXPECT_TRUE(covered) << "the clean run sent no " << name;
    }
    for (const Flip& flip : flips) {
      SCOPED_TRACE(flip.what + (flip.upstream ? " (client to server" : " (server to client") +
                   ", byte " + std::to_string(flip.at) + " bit " + std::to_string(flip.bit) + ")");
      reset();
      RunResult r =
          through_proxy(command, {flip.upstream ? "--flip-upstream" : "--flip-downstream",
                                  std::to_string(flip.at), "--flip-bit", std::to_string(flip.bit)});
      EXPECT_NE(r.err.find("damaged in transit"), std::string::npos) << r.err;
      if (!retries) {
        EXPECT_EQ(r.exit_code, kConnection) << r.err;
        EXPECT_EQ(clean.out.rfind(r.out, 0), 0u) << "printed what the clean run did not:\n"
                                                 << r.out;
        continue;
      }
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.err.find("retry 1/"), std::string::npos) << r.err;
      check(clean, r);
    }
  }

  /// Everything under the root but the server's hidden state, links by
  /// their own names (tree_names() resolves them).
  std::vector<std::string> visible_root() const {
    std::vector<std::string> names;
    for (auto it = fs::recursive_directory_iterator(root_.path());
         it != fs::recursive_directory_iterator(); ++it) {
      const fs::path name = it->path().lexically_relative(root_.path());
      bool hidden = false;
      for (const auto& component : name)
        hidden = hidden || component.string().rfind(".ft-", 0) == 0;
      if (!hidden) names.push_back(name.string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  ListeningProcess proxy_;
};

// ftsend of a small file (EAGER: PUT, DATA and END at once, then OK) and of
// a tree (MKDIR, SYMLINK, then PUT, PUT_READY, DATA, END, OK).
TEST_F(FrameCheckProxy, UploadsRecoverFromEveryFlippedField) {
  write_file(work_.path() / "small", "small file");
  const Command send_small = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftsend"), (work_.path() / "small").string(),
                                    base + "/dest/"};
  };
  each_flip_recovers(
      send_small, [&] { fs::remove_all(root_.path() / "dest"); },
      [&](const RunResult&, const RunResult&) {
        EXPECT_EQ(visible_root(), (std::vector<std::string>{"dest", "dest/small"}));
        EXPECT_EQ(read_file(root_.path() / "dest" / "small"), "small file");
      },
      {FrameType::kPut, FrameType::kData, FrameType::kEnd, FrameType::kOk});
}

TEST_F(FrameCheckProxy, TreeUploadsRecoverFromEveryFlippedField) {
  const fs::path tree = work_.path() / "tree";
  fs::create_directories(tree / "sub");
  write_random_file(tree / "sub" / "big", 300 * 1024, 11);
  fs::create_symlink("sub/big", tree / "link");
  const Command send_tree = [&](const std::string& base) {
    // A chunk below the file's size: not EAGER, so PUT_READY is seen too.
    return std::vector<std::string>{bin("ftsend"), "-r",          "--links", "--chunk-size",
                                    "65536",       tree.string(), base};
  };
  const std::vector<std::string> want = {"tree", "tree/link", "tree/sub", "tree/sub/big"};
  each_flip_recovers(
      send_tree, [&] { fs::remove_all(root_.path() / "tree"); },
      [&](const RunResult&, const RunResult&) {
        EXPECT_EQ(visible_root(), want);
        EXPECT_EQ(file_hash(root_.path() / "tree" / "sub" / "big"),
                  file_hash(tree / "sub" / "big"));
        EXPECT_EQ(fs::read_symlink(root_.path() / "tree" / "link"), "sub/big");
      },
      {FrameType::kMkdir, FrameType::kSymlink, FrameType::kPut, FrameType::kPutReady,
       FrameType::kData, FrameType::kEnd, FrameType::kOk});
}

// ftget (GET, GET_READY, DATA, END) and ftls (LIST, STAT, ENTRIES, ERROR;
// it has no retries, so it exits 4).
TEST_F(FrameCheckProxy, DownloadsAndListingsRecoverFromEveryFlippedField) {
  write_random_file(root_.path() / "file", 200 * 1024, 12);
  const fs::path dest = work_.path() / "dest";
  fs::create_directories(dest);
  const Command get = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftget"), base + "/file", dest.string()};
  };
  each_flip_recovers(
      get,
      [&] {
        fs::remove_all(dest);
        fs::create_directories(dest);
      },
      [&](const RunResult&, const RunResult&) {
        EXPECT_EQ(visible_tree_names(dest), (std::vector<std::string>{"file"}));
        EXPECT_EQ(file_hash(dest / "file"), file_hash(root_.path() / "file"));
      },
      {FrameType::kGet, FrameType::kGetReady, FrameType::kData, FrameType::kEnd});

  const Command list = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftls"), "-l", base + "/"};
  };
  // ftls has no --retries: a damaged connection is its end, exit 4.
  each_flip_recovers(
      list, [] {}, [](const RunResult&, const RunResult&) {},
      {FrameType::kList, FrameType::kEntries}, false);

  // ftls of a file: LIST, ERROR NOT_A_DIRECTORY, then STAT and its ENTRIES.
  const Command stat = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftls"), "-l", base + "/file"};
  };
  each_flip_recovers(
      stat, [] {}, [](const RunResult&, const RunResult&) {},
      {FrameType::kList, FrameType::kError, FrameType::kStat, FrameType::kEntries}, false);
}

// Without retries the damage is the end: exit 4, FRAME_CHECK named, and
// nothing under the asked name nor any other.
TEST_F(FrameCheckProxy, WithoutRetriesADamagedRequestExitsFourAndLeavesNothing) {
  write_file(work_.path() / "victim", "content");
  const Command send = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftsend"), "--retries", "0",
                                    (work_.path() / "victim").string(), base + "/dest/"};
  };
  RunResult clean;
  std::vector<Flip> flips = record(send, clean);
  fs::remove_all(root_.path() / "dest");
  for (const Flip& flip : flips) {
    if (flip.what != "PUT path" && flip.what != "PUT mode") continue;
    SCOPED_TRACE(flip.what);
    RunResult r = through_proxy(
        send, {"--flip-upstream", std::to_string(flip.at), "--flip-bit", std::to_string(flip.bit)});
    EXPECT_EQ(r.exit_code, kConnection) << r.err;
    EXPECT_NE(r.err.find("damaged in transit"), std::string::npos) << r.err;
    EXPECT_TRUE(tree_names(root_.path()).empty()) << ::testing::PrintToString(root_names());
  }

  write_random_file(root_.path() / "file", 100 * 1024, 13);
  const fs::path dest = work_.path() / "dest";
  fs::create_directories(dest);
  const Command get = [&](const std::string& base) {
    return std::vector<std::string>{bin("ftget"), "--retries", "0", base + "/file", dest.string()};
  };
  // GET_READY's mode: byte 16 (hello) + 20 (header and check) + 16 + 3.
  RunResult r = through_proxy(get, {"--flip-downstream", "55", "--flip-bit", "1"});
  EXPECT_EQ(r.exit_code, kConnection) << r.err;
  EXPECT_NE(r.err.find("damaged in transit"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest / "file"));
  EXPECT_TRUE(visible_tree_names(dest).empty());
}

}  // namespace
}  // namespace ft::testing
