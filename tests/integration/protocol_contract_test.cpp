// docs/protocol.md as a contract (issue 11), part 1: the four places where
// the server and the document disagreed, and the scope of errors
// (section 7.1): which end a request, which end the connection, and what
// precedes the close.
#include <sys/stat.h>

#include "support/contract_fixture.hpp"

namespace ft::testing {
namespace {

// Section 5.4: with RESUME every PUT_READY carries the prefix hash; for a
// PUT without RESUMABLE the offset is 0 and the hash that of no bytes.
TEST_F(ContractTest, PlainPutOnAResumeConnectionIsOfferedZeroWithTheHashOfNothing) {
  auto client = connect(kCapResume);
  Frame ready = exchange(*client, put(1, "plain", 3));
  ASSERT_EQ(ready.header.type, FrameType::kPutReady);
  ASSERT_EQ(ready.payload.size(), 24u);
  auto msg = decode_put_ready(ready.payload, true);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->offset, 0u);
  ASSERT_TRUE(msg->prefix_hash);
  EXPECT_EQ(*msg->prefix_hash, hash128(ByteSpan{}));
  // Without RESUME the same PUT gets the 8-byte form.
  auto plain = connect(0);
  Frame short_ready = exchange(*plain, put(1, "other", 3));
  ASSERT_EQ(short_ready.header.type, FrameType::kPutReady);
  EXPECT_EQ(short_ready.payload.size(), 8u);
}

// Sections 5.1 and 5.4: a bad chunk of a PUT without RESUMABLE is rewound
// on a RESUME connection, and fails the request (only) without RESUME.
TEST_F(ContractTest, BadChunkOfAPlainPutIsRewoundWithResumeAndFailsWithout) {
  const std::string content(6000, 'r');
  Bytes corrupt = data(1, 0, content.substr(0, 4096));
  corrupt[kDataHeadSize] ^= 0x01;
  {
    auto client = connect(kCapResume);
    ASSERT_EQ(exchange(*client, put(1, "rewound", content.size())).header.type,
              FrameType::kPutReady);
    Frame again = exchange(*client, corrupt);
    ASSERT_EQ(again.header.type, FrameType::kPutReady);
    auto msg = decode_put_ready(again.payload, true);
    ASSERT_TRUE(msg);
    EXPECT_EQ(msg->offset, 0u);
    EXPECT_EQ(*msg->prefix_hash, hash128(ByteSpan{}));
    Bytes rest =
        data(1, 0, content.substr(0, 4096)) + data(1, 4096, content.substr(4096)) + end(1, content);
    EXPECT_EQ(exchange(*client, rest).header.type, FrameType::kOk);
    EXPECT_EQ(read_file(root_.path() / "rewound"), content);
  }
  auto client = connect(0);
  ASSERT_EQ(exchange(*client, put(1, "failed", content.size())).header.type, FrameType::kPutReady);
  EXPECT_EQ(error_check(exchange(*client, corrupt), 1, ErrorCode::CHECKSUM_MISMATCH), "");
  // Its remaining DATA and END are discarded (section 7.2) and the
  // connection goes on.
  client->send(data(1, 4096, content.substr(4096)) + end(1, content));
  EXPECT_TRUE(still_serves(*client));
}

// Section 5.2: GET honours an offset, and END hashes the whole file.
TEST_F(ContractTest, GetFromAnOffsetSendsTheRestAndTheWholeFileHash) {
  write_file(root_.path() / "five", "abcde");
  auto client = connect(0);
  Bytes get;
  encode_get(get, 3, GetMsg{"five", 2});
  Frame ready = exchange(*client, get);
  ASSERT_EQ(ready.header.type, FrameType::kGetReady);
  EXPECT_EQ(decode_get_ready(ready.payload)->size, 5u);
  auto chunk = client->read_frame();
  ASSERT_TRUE(chunk);
  ASSERT_EQ(chunk->header.type, FrameType::kData);
  auto view = decode_data(chunk->payload);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->offset, 2u);
  EXPECT_EQ(std::string(view->bytes.begin(), view->bytes.end()), "cde");
  auto last = client->read_frame();
  ASSERT_TRUE(last);
  ASSERT_EQ(last->header.type, FrameType::kEnd);
  EXPECT_EQ(decode_end(last->payload)->file_hash, hash128(span_of("abcde")));
}

// README and section 5.1: a failed upload leaves no file, but the parent
// directories it created stay.
TEST_F(ContractTest, FailedUploadLeavesTheDirectoriesItCreatedButNoFile) {
  auto client = connect(0);
  ASSERT_EQ(exchange(*client, put(1, "p/q/f", 3)).header.type, FrameType::kPutReady);
  Bytes cancel;
  encode_cancel(cancel, 1);
  EXPECT_EQ(error_check(exchange(*client, cancel), 1, ErrorCode::CANCELLED), "");
  ASSERT_EQ(exchange(*client, put(2, "s/t/g", 3)).header.type, FrameType::kPutReady);
  EXPECT_EQ(error_check(exchange(*client, data(2, 0, "abc") + end(2, "abd")), 2,
                        ErrorCode::CHECKSUM_MISMATCH),
            "");
  EXPECT_EQ(root_names(), (std::vector<std::string>{"p", "p/q", "s", "s/t"}));
}

// Section 7.1, request scope: these errors end the request only.
TEST_F(ContractTest, RequestScopedErrorsKeepTheConnection) {
  auto client = connect(kCapTrees);
  // An unknown put_flags bit, EAGER and RESUMABLE without their capability.
  EXPECT_EQ(error_check(exchange(*client, put(1, "a", 1, 0x8)), 1, ErrorCode::PROTOCOL), "");
  EXPECT_EQ(error_check(exchange(*client, put(2, "a", 1, kPutEager)), 2, ErrorCode::PROTOCOL), "");
  EXPECT_EQ(
      error_check(exchange(*client, put(3, "a", 1, kPutResumable, "src")), 3, ErrorCode::PROTOCOL),
      "");
  // An unknown mkdir_flags bit.
  Bytes mkdir;
  encode_mkdir(mkdir, 4, MkdirMsg{"d", 0755, 0, 0x2});
  EXPECT_EQ(error_check(exchange(*client, mkdir), 4, ErrorCode::PROTOCOL), "");
  // Path rules and the file system.
  Bytes get;
  encode_get(get, 5, GetMsg{"missing", 0});
  EXPECT_EQ(error_check(exchange(*client, get), 5, ErrorCode::NOT_FOUND), "");
  EXPECT_EQ(error_check(exchange(*client, put(6, "../x", 1)), 6, ErrorCode::BAD_PATH), "");
  EXPECT_TRUE(still_serves(*client));
  // EAGER with RESUMABLE, both agreed.
  auto both = connect(kCapResume | kCapEager);
  EXPECT_EQ(error_check(exchange(*both, put(1, "a", 1, kPutEager | kPutResumable, "src")), 1,
                        ErrorCode::PROTOCOL),
            "");
  EXPECT_TRUE(still_serves(*both));
  EXPECT_TRUE(root_names().empty());
}

// Section 7.1, connection scope: a malformed payload closes the connection
// after ERROR(0, PROTOCOL), however plausible the request around it.
TEST_F(ContractTest, MalformedPayloadsEndTheConnection) {
  auto raw_put = [](std::uint32_t flags, const std::string& source_id, std::uint32_t mode) {
    Bytes payload;
    ByteWriter w(payload);
    w.str("f");
    w.u64(1);
    w.u32(mode);
    w.i64(0);
    w.u32(limits::kMinChunkSize);
    w.u32(flags);
    if (!source_id.empty()) w.str(source_id);
    Bytes out;
    encode_header(out, FrameHeader{FrameType::kPut, 0, 1, std::uint32_t(payload.size())});
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  };
  const std::vector<std::pair<std::string, Bytes>> cases = {
      {"RESUMABLE without source_id", raw_put(kPutResumable, "", 0644)},
      {"source_id of 256 bytes", raw_put(kPutResumable, std::string(256, 's'), 0644)},
      {"mode above 07777", raw_put(0, "", 010000)},
  };
  for (const auto& [name, bytes] : cases) {
    for (std::uint32_t capabilities : {0u, kCapResume}) {
      auto client = connect(capabilities);
      client->send(bytes);
      EXPECT_EQ(connection_error(*client), "malformed PUT") << name;
    }
  }
  // MKDIR without TREES is the connection's error, not the request's.
  auto client = connect(0);
  Bytes mkdir;
  encode_mkdir(mkdir, 1, MkdirMsg{"d", 0755, 0, 0});
  client->send(mkdir);
  EXPECT_NE(connection_error(*client).find("TREES"), std::string::npos);
  EXPECT_TRUE(root_names().empty());
}

// Section 5.4: a protocol error closes the connection, and a resumable
// upload keeps its partial data as after a lost connection, even at 0 bytes.
TEST_F(ContractTest, ProtocolErrorKeepsTheResumablePartialData) {
  const std::string content(3 * 4096, 'p');
  const PutMsg resumable{
      "keep/f",      content.size(), 0644, 1700000000000000000, limits::kMinChunkSize,
      kPutResumable, "host:1:2"};
  const fs::path partial = root_.path() / "keep" / partial_file_name(resumable);
  Bytes put_bytes;
  encode_put(put_bytes, 1, resumable);
  // A connection whose resumable PUT of that key got PUT_READY (not BUSY:
  // the previous upload let go of its partial file), and the offset offered.
  auto ready_client = [&](std::uint64_t& offset) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto client = connect(kCapResume);
      Frame reply = exchange(*client, put_bytes);
      if (reply.header.type == FrameType::kPutReady) {
        offset = decode_put_ready(reply.payload, true)->offset;
        return client;
      }
      EXPECT_EQ(error_check(reply, 1, ErrorCode::BUSY), "");
    }
    ADD_FAILURE() << "the partial file stays claimed";
    return std::unique_ptr<RawClient>();
  };
  std::uint64_t offset = ~std::uint64_t{0};
  auto first = ready_client(offset);
  ASSERT_TRUE(first);
  EXPECT_EQ(offset, 0u);
  // A mark on the 0-byte partial file: the server creates it 0600, so a
  // file made afresh would not carry 0640. (A hard link would not do: the
  // server drops a partial name that has one.)
  struct stat created {};
  ASSERT_EQ(::stat(partial.c_str(), &created), 0);
  EXPECT_EQ(created.st_size, 0);
  ASSERT_EQ(::chmod(partial.c_str(), 0640), 0);
  first->send(data(1, 4096, "gap"));
  EXPECT_NE(connection_error(*first).find("gap: offset 4096, expected 0"), std::string::npos);
  first.reset();
  auto second = ready_client(offset);
  ASSERT_TRUE(second);
  EXPECT_EQ(offset, 0u);
  struct stat kept {};
  ASSERT_EQ(::stat(partial.c_str(), &kept), 0);
  EXPECT_EQ(kept.st_mode & 0777, 0640u) << "the 0-byte partial file was removed and made again";
  EXPECT_EQ(kept.st_ino, created.st_ino);
  // One good chunk, then one longer than the chunk size: the good one is
  // kept for the next attempt.
  second->send(data(1, 0, content.substr(0, 4096)) + data(1, 4096, content.substr(0, 5000)));
  EXPECT_NE(connection_error(*second).find("longer than the chunk size: 5000 bytes"),
            std::string::npos);
  second.reset();
  auto third = ready_client(offset);
  ASSERT_TRUE(third);
  EXPECT_EQ(offset, 4096u);
}

// Sections 7.1 and 10.2: an open server over --max-connections sends its
// hello and ERROR(0, SERVER_FULL), then closes, without reading a byte.
TEST_F(ContractFixture, OpenServerOverItsConnectionLimitSendsHelloThenServerFull) {
  start_server({"--max-connections", "1"});
  auto served = connect(0);
  ASSERT_TRUE(still_serves(*served));
  RawClient extra(server_.port());
  ASSERT_TRUE(extra.read_hello());
  EXPECT_EQ(extra.server_hello().version_min, kProtocolVersion);
  EXPECT_EQ(connection_error(extra, ErrorCode::SERVER_FULL).find("too many connections"), 0u);
}

}  // namespace
}  // namespace ft::testing
