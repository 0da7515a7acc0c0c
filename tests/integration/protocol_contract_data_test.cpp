// docs/protocol.md as a contract (issue 11), part 2: the sizes of DATA
// (section 4), what the server does with DATA and END it does not expect
// and the reason it gives for each (section 7.2), the codes of GET
// (section 5.2), GET_READY's chunk size, and the names a listing may hold
// (section 5.3).
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "support/contract_fixture.hpp"

namespace ft::testing {
namespace {

// Section 4: any DATA of 1 to chunk_size bytes is legal, not only the last.
TEST_F(ContractTest, OneByteDataFramesAreLegal) {
  auto client = connect(0);
  ASSERT_EQ(exchange(*client, put(1, "bytes", 3)).header.type, FrameType::kPutReady);
  Bytes frames = data(1, 0, "a") + data(1, 1, "b") + data(1, 2, "c") + end(1, "abc");
  EXPECT_EQ(exchange(*client, frames).header.type, FrameType::kOk);
  EXPECT_EQ(read_file(root_.path() / "bytes"), "abc");
}

// One violation after a PUT that got its PUT_READY.
struct Violation {
  std::string name;
  Bytes frames;
  std::string reason;  // what the ERROR(0) message says after "DATA for request 1, "
};

// Section 7.2: each DATA/END violation closes the connection with its reason.
TEST_F(ContractTest, EachDataViolationNamesItsReason) {
  Bytes empty_data;
  encode_header(empty_data, FrameHeader{FrameType::kData, 0, 1, 16});
  empty_data.resize(empty_data.size() + 16, 0);
  const std::string chunk(4096, 'c');
  const std::vector<Violation> violations = {
      {"gap", data(1, 2, "xy"), "DATA for request 1, gap: offset 2, expected 0"},
      {"overlap", data(1, 0, "ab") + data(1, 1, "bc"),
       "DATA for request 1, overlap: offset 1, expected 2"},
      {"longer than the chunk size", data(1, 0, chunk + "x"),
       "DATA for request 1, longer than the chunk size: 4097 bytes, chunk size 4096"},
      {"past the size", data(1, 0, "abcdefghijk"),
       "DATA for request 1, past the declared size: 11 bytes at offset 0, size 10"},
      {"empty", empty_data, "DATA for request 1, malformed: no bytes after offset and hash"},
  };
  for (const Violation& v : violations) {
    auto client = connect(0);
    ASSERT_EQ(exchange(*client, put(1, "v", 10)).header.type, FrameType::kPutReady) << v.name;
    client->send(v.frames);
    EXPECT_EQ(connection_error(*client), v.reason) << v.name;
  }
  // DATA or END after END: while the upload commits, or once it ended.
  for (const char* type : {"DATA", "END"}) {
    auto client = connect(0);
    ASSERT_EQ(exchange(*client, put(1, "w", 1)).header.type, FrameType::kPutReady);
    const Bytes late = std::string(type) == "DATA" ? data(1, 1, "b") : end(1, "a");
    client->send(data(1, 0, "a") + end(1, "a") + late);
    const std::string after = connection_error(*client);
    EXPECT_TRUE(after == std::string(type) + " for request 1, after its END" ||
                after == std::string(type) + " for request 1, which is not in flight")
        << after;
  }
}

// Section 7.2: DATA for a PUT without PUT_READY closes the connection,
// whether or not the PUT is about to be refused; after the refusal's
// ERROR the id is simply not in flight.
TEST_F(ContractTest, DataWithoutPutReadyOrForNoUploadClosesTheConnection) {
  {
    auto client = connect(0);
    client->send(put(1, "fine", 3) + data(1, 0, "abc"));
    EXPECT_EQ(connection_error(*client), "DATA for request 1, which has had no PUT_READY");
  }
  {
    auto client = connect(0);
    client->send(put(1, "../refused", 3) + data(1, 0, "abc"));
    EXPECT_EQ(connection_error(*client), "DATA for request 1, which has had no PUT_READY");
  }
  {
    auto client = connect(0);
    EXPECT_EQ(error_check(exchange(*client, put(1, "../refused", 3)), 1, ErrorCode::BAD_PATH), "");
    client->send(data(1, 0, "abc"));
    EXPECT_EQ(connection_error(*client), "DATA for request 1, which is not in flight");
  }
  {
    write_file(root_.path() / "big", std::string(3 << 20, 'g'));
    auto client = connect(0);
    Bytes get;
    encode_get(get, 1, GetMsg{"big", 0});
    client->send(get + end(1, ""));
    EXPECT_EQ(connection_error(*client), "END for request 1, which is not an upload");
  }
}

// Section 7.2, rule 1: after a CANCEL, or an EAGER PUT's ERROR, the id's
// DATA and END still on their way are dropped and the connection stays.
TEST_F(ContractTest, FramesOfACancelledOrRefusedEagerUploadAreDiscarded) {
  auto client = connect(kCapEager);
  ASSERT_EQ(exchange(*client, put(1, "c", 8)).header.type, FrameType::kPutReady);
  Bytes cancel;
  encode_cancel(cancel, 1);
  client->send(cancel + data(1, 0, "abcd"));
  auto cancelled = client->read_frame();
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(error_check(*cancelled, 1, ErrorCode::CANCELLED), "");
  client->send(data(1, 4, "efgh") + end(1, "abcdefgh"));
  EXPECT_TRUE(still_serves(*client));
  client->send(put(2, "../eager", 2, kPutEager) + data(2, 0, "ab") + end(2, "ab"));
  auto refused = client->read_frame();
  ASSERT_TRUE(refused);
  EXPECT_EQ(error_check(*refused, 2, ErrorCode::BAD_PATH), "");
  EXPECT_TRUE(still_serves(*client, 998));
  EXPECT_TRUE(root_names().empty());
}

// Section 5.2: the codes GET promises for what is not a regular file.
TEST_F(ContractTest, GetOfWhatIsNotARegularFileGetsItsDocumentedCode) {
  ASSERT_EQ(::mkfifo((root_.path() / "fifo").c_str(), 0644), 0);
  fs::create_directory(root_.path() / "dir");
  fs::create_symlink("/etc/hostname", root_.path() / "out");
  fs::create_symlink("../..", root_.path() / "dir" / "up");
  struct Probe {
    std::string path;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Probe> probes = {
      {"fifo", ErrorCode::NOT_FOUND, "not a regular file"},
      {"dir", ErrorCode::IS_A_DIRECTORY, ""},
      {"out", ErrorCode::PATH_ESCAPES_ROOT, "the path leads outside the root"},
      {"dir/up/x", ErrorCode::PATH_ESCAPES_ROOT, "the path leads outside the root"},
      {"nothing", ErrorCode::NOT_FOUND, ""},
  };
  auto client = connect(0);
  std::uint32_t id = 1;
  for (const Probe& probe : probes) {
    Bytes get;
    encode_get(get, id, GetMsg{probe.path, 0});
    Frame reply = exchange(*client, get);
    EXPECT_EQ(error_check(reply, id, probe.code), "") << probe.path;
    if (!probe.message.empty()) {
      EXPECT_EQ(decode_error(reply.payload)->message, probe.message) << probe.path;
    }
    ++id;
  }
}

// Section 5.2: ftserve's GET_READY says 1 MiB, and every DATA but the
// last carries exactly that many bytes.
TEST_F(ContractTest, DownloadChunksAreOneMebibyteButTheLast) {
  const std::uint64_t size = 2 * 1048576 + 4321;
  write_random_file(root_.path() / "big", size, 7);
  auto client = connect(0);
  Bytes get;
  encode_get(get, 1, GetMsg{"big", 0});
  Frame ready = exchange(*client, get);
  ASSERT_EQ(ready.header.type, FrameType::kGetReady);
  EXPECT_EQ(decode_get_ready(ready.payload)->chunk_size, 1048576u);
  std::vector<std::size_t> lengths;
  for (;;) {
    auto frame = client->read_frame();
    ASSERT_TRUE(frame);
    if (frame->header.type == FrameType::kEnd) break;
    ASSERT_EQ(frame->header.type, FrameType::kData);
    lengths.push_back(frame->payload.size() - 16);
  }
  EXPECT_EQ(lengths, (std::vector<std::size_t>{1048576, 1048576, 4321}));
}

// Section 5.3: a listing carries names that break section 6 as they are,
// and hides only ".", ".." and ".ft-" names.
TEST_F(ContractTest, ListingCarriesRawNamesAndHidesOnlyTheServersOwn) {
  const std::set<std::string> odd = {"esc\x1b[31m", "new\nline", "evil\u202Etxt.exe",
                                     std::string("bad\xff\xfe", 5), "plain"};
  for (const std::string& name : odd) write_file(root_.path() / name, "x");
  write_file(root_.path() / ".ft-mine", "x");
  write_file(root_.path() / ".hidden", "x");
  auto client = connect(0);
  Bytes list;
  encode_list(list, 1, PathMsg{""});
  Frame reply = exchange(*client, list);
  ASSERT_EQ(reply.header.type, FrameType::kEntries);
  auto entries = decode_entries(reply);
  ASSERT_TRUE(entries);
  std::set<std::string> names;
  for (const Entry& entry : entries->entries) names.insert(entry.name);
  std::set<std::string> expected = odd;
  expected.insert(".hidden");
  EXPECT_EQ(names, expected);
  // Such a name cannot be named back: the path rules refuse it.
  Bytes stat;
  encode_stat(stat, 2, PathMsg{"new\nline"});
  EXPECT_EQ(error_check(exchange(*client, stat), 2, ErrorCode::BAD_PATH), "");
}

}  // namespace
}  // namespace ft::testing
