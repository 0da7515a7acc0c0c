// FRAME_CHECK against a real ftserve, frame by frame (docs/protocol.md
// section 3.1, issue 17): a bit flipped in any field of any request the
// client sends (header, path, mode, mtime, offset, hash, target) closes the
// connection with ERROR(0, FRAME_CHECK) before the request is acted on, so
// nothing is created under any name; the server keeps serving; and a client
// without the capability (from before it) is served as before.
#include <chrono>
#include <thread>

#include "common/wire/frame_check.hpp"
#include "support/contract_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::int64_t kMtime = 1700000000000000000;
constexpr std::size_t kPayload = limits::kFrameHeaderSize + limits::kFrameCheckSize;

class FrameCheckRaw : public ContractFixture {
 protected:
  void SetUp() override { start_server(); }

  /// A connection that agreed FRAME_CHECK (and TREES, for MKDIR and SYMLINK).
  std::unique_ptr<RawClient> connect_checked() {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(kCapFrameCheckPair | kCapTrees);
    EXPECT_TRUE(client->read_hello());
    EXPECT_EQ(client->server_hello().capabilities & kCapFrameCheckPair, kCapFrameCheckPair);
    client->set_frame_check(true);
    return client;
  }
  /// Waits (up to 5 s) until the names under the root are `names`.
  bool root_becomes(const std::vector<std::string>& names) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (root_names() != names) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
};

/// One damaged request: the checked frames that set it up (a PUT waiting
/// for its data), then the frame whose bit `bit` of byte `at` (in the
/// checked frame: header 0-11, check block 12-19, payload from 20) flips.
struct Damage {
  std::string name;
  Bytes setup;  // unchecked; empty for none
  Bytes frame;  // unchecked
  std::size_t at;
  int bit;
};

Bytes put_frame(std::uint32_t id, const std::string& path, std::uint64_t size,
                std::uint32_t mode = 0644) {
  Bytes out;
  encode_put(out, id, PutMsg{path, size, mode, kMtime, limits::kMinChunkSize, 0, {}});
  return out;
}

/// "OK", or the ERROR's code and message: what a reply was.
std::string what(const Frame& frame) {
  if (frame.header.type != FrameType::kError) {
    return frame_type_name(static_cast<std::uint8_t>(frame.header.type));
  }
  auto error = decode_error(frame.payload);
  return error ? to_string(static_cast<ErrorCode>(error->code)) + ": " + error->message
               : "malformed ERROR";
}

std::vector<Damage> damages() {
  const std::string content = "abc";
  Bytes data;
  encode_data(data, 1, 0, span_of(content));
  Bytes end;
  encode_end(end, 1, EndMsg{3, hash128(span_of(content))});
  Bytes get;
  encode_get(get, 2, GetMsg{"a/x", 0});
  Bytes list;
  encode_list(list, 3, PathMsg{"a"});
  Bytes stat;
  encode_stat(stat, 4, PathMsg{"a/x"});
  Bytes mkdir;
  encode_mkdir(mkdir, 5, MkdirMsg{"a/b", 0755, kMtime, kMkdirSetMtime});
  Bytes symlink;
  encode_symlink(symlink, 6, SymlinkMsg{"a/l", "x", kMtime});
  Bytes cancel;
  encode_cancel(cancel, 1);
  const Bytes put = put_frame(1, "a/x", 3);
  // PUT payload: str path (2 + 3), u64 size, u32 mode, i64 mtime, ...
  return {
      {"put_type", {}, put, 0, 4},
      {"put_id", {}, put, 7, 0},
      {"put_length", {}, put, 11, 2},
      {"put_header_check", {}, put, 13, 5},
      {"put_payload_check", {}, put, 19, 0},
      {"put_path", {}, put, kPayload + 4, 0},           // "a/x" -> "a/y"
      {"put_path_length", {}, put, kPayload + 1, 1},    // 3 -> 1: "a"
      {"put_size", {}, put, kPayload + 5 + 7, 3},       // 3 -> 11
      {"put_mode", {}, put, kPayload + 13 + 2, 1},      // 0644 -> 01644
      {"put_mode_low", {}, put, kPayload + 13 + 3, 1},  // 0644 -> 0646
      {"put_mtime", {}, put, kPayload + 17 + 7, 6},
      {"data_id", put, data, 7, 1},
      {"data_offset", put, data, kPayload + 7, 0},
      {"data_chunk_hash", put, data, kPayload + 8, 7},
      {"end_size", put, end, kPayload + 7, 1},
      {"end_hash", put, end, kPayload + 8 + 15, 0},
      {"cancel_id", put, cancel, 7, 1},
      {"get_path", {}, get, kPayload + 2, 2},
      {"get_offset", {}, get, kPayload + 5 + 7, 0},
      {"list_path", {}, list, kPayload + 2, 0},
      {"list_flags", {}, list, 1, 1},
      {"stat_path", {}, stat, kPayload + 4, 0},
      {"mkdir_path", {}, mkdir, kPayload + 4, 1},  // "a/b" -> "a/`"
      {"mkdir_mode", {}, mkdir, kPayload + 5 + 3, 1},
      {"mkdir_mtime", {}, mkdir, kPayload + 9 + 7, 3},
      {"symlink_path", {}, symlink, kPayload + 4, 0},
      {"symlink_target", {}, symlink, kPayload + 5 + 2, 0},  // "x" -> "y"
  };
}

TEST_F(FrameCheckRaw, EveryRequestWithAFlippedBitIsRefusedBeforeItActs) {
  fs::create_directories(root_.path() / "a");
  write_file(root_.path() / "a" / "x", "old");
  const std::vector<std::string> before = root_names();
  for (const Damage& d : damages()) {
    SCOPED_TRACE(d.name);
    auto client = connect_checked();
    if (!d.setup.empty()) {
      // The PUT must be under way (PUT_READY) for its DATA, END or CANCEL
      // to mean something.
      Frame ready = exchange(*client, add_frame_checks(d.setup));
      ASSERT_EQ(ready.header.type, FrameType::kPutReady) << what(ready);
    }
    Bytes damaged = add_frame_checks(d.frame);
    ASSERT_LT(d.at, damaged.size());
    damaged[d.at] ^= static_cast<std::uint8_t>(1u << d.bit);
    client->send(damaged);
    auto error = client->read_connection_error();
    ASSERT_TRUE(error.has_value()) << "no ERROR(0) before the close";
    EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::FRAME_CHECK)) << error->message;
    EXPECT_NE(error->message.find("damaged in transit"), std::string::npos) << error->message;
    EXPECT_TRUE(client->closed_by_peer());
    // Nothing created, renamed, replaced or left behind (the temporary
    // file of a PUT under way is removed with its connection, on the
    // server's thread pool: give it a moment).
    EXPECT_TRUE(root_becomes(before)) << ::testing::PrintToString(root_names());
    EXPECT_EQ(read_file(root_.path() / "a" / "x"), "old");
  }
  EXPECT_TRUE(server_.wait_for_err("frame check failed")) << server_.err();

  // The server still serves a checked upload, byte-exact.
  auto client = connect_checked();
  const std::string content = "new";
  Frame ready = exchange(*client, add_frame_checks(put_frame(9, "a/z", 3)));
  ASSERT_EQ(ready.header.type, FrameType::kPutReady);
  Bytes rest = data(9, 0, content) + end(9, content);
  Frame ok = exchange(*client, add_frame_checks(rest));
  EXPECT_EQ(ok.header.type, FrameType::kOk) << what(ok);
  EXPECT_EQ(read_file(root_.path() / "a" / "z"), "new");
}

// A client hello carrying one FRAME_CHECK bit of the two was damaged: the
// server answers its hello and ERROR(0, FRAME_CHECK) rather than run the
// connection without the check the client asked for.
TEST_F(FrameCheckRaw, HelloWithOneCheckBitOfTwoIsRefused) {
  for (std::uint32_t caps : {kCapFrameCheck, kCapFrameCheckConfirm | kCapResume}) {
    RawClient client(server_.port());
    client.send_hello(caps);
    auto error = client.read_connection_error();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::FRAME_CHECK)) << error->message;
    EXPECT_EQ(client.server_hello().capabilities, 0u);
    EXPECT_TRUE(client.closed_by_peer());
  }
  EXPECT_TRUE(root_names().empty());
}

// A client from before FRAME_CHECK (no bit, or only the older ones) gets no
// check block in the server's frames and sends none: everything works as
// before, in both directions.
TEST_F(FrameCheckRaw, ClientWithoutTheCapabilityIsServedAsBefore) {
  for (std::uint32_t caps : {0u, kCapResume | kCapTrees | kCapEager}) {
    SCOPED_TRACE(caps);
    auto client = connect(caps);
    EXPECT_EQ(client->server_hello().capabilities & kCapFrameCheckPair, 0u);
    const std::string name = "old" + std::to_string(caps);
    Frame ready = exchange(*client, put(1, name, 5));
    ASSERT_EQ(ready.header.type, FrameType::kPutReady);
    Frame ok = exchange(*client, data(1, 0, "hello") + end(1, "hello"));
    EXPECT_EQ(ok.header.type, FrameType::kOk) << what(ok);
    EXPECT_EQ(read_file(root_.path() / name), "hello");
    Bytes get;
    encode_get(get, 2, GetMsg{name, 0});
    Frame get_ready = exchange(*client, get);
    EXPECT_EQ(get_ready.header.type, FrameType::kGetReady);
    auto data_frame = client->read_frame();
    ASSERT_TRUE(data_frame.has_value());
    EXPECT_EQ(data_frame->header.type, FrameType::kData);
    EXPECT_EQ(data_frame->header.payload_length, limits::kDataPrefixSize + 5);
  }
}

}  // namespace
}  // namespace ft::testing
