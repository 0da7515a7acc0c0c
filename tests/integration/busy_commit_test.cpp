// Issue 17 ("also seen"): ftsend dies while the server commits its upload;
// the rerun meets BUSY (the dead connection's upload still holds the
// partial data), and once the commit is done it must recognise the
// committed file (same size, mtime and XXH3-128) and send nothing, where it
// used to send the whole file again.
//
// Deterministic: a raw connection plays the dying ftsend. It sends a
// resumable PUT with ftsend's own key for the file (path, size, mtime and
// source_id <hostname>:<st_dev>:<st_ino>) and all the data, and holds its
// END back. ftsend is started, and only once the server logged its BUSY is
// the END sent and the commit awaited; ftsend's retries then meet BUSY
// until the commit is done, and the committed file after it.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/raw_client.hpp"
#include "support/resume_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint32_t kChunk = 1024 * 1024;

// The resumable PUT ftsend sends for `source` into `remote_path`.
PutMsg ftsend_put(const fs::path& source, const std::string& remote_path) {
  struct stat st {};
  EXPECT_EQ(::stat(source.c_str(), &st), 0);
  char host[HOST_NAME_MAX + 1] = {};
  EXPECT_EQ(::gethostname(host, sizeof host - 1), 0);
  PutMsg put;
  put.path = remote_path;
  put.size = static_cast<std::uint64_t>(st.st_size);
  put.mode = st.st_mode & 0777;
  put.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  put.chunk_size = kChunk;
  put.put_flags = kPutResumable;
  put.source_id =
      std::string(host) + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  return put;
}

TEST_F(ResumeTest, RerunAfterBusyRecognisesTheCommittedFileAndSendsNothing) {
  const fs::path source = work_ / "big.bin";
  write_random_file(source, 3 * kMiB + 17, 1717);
  const std::string content = read_file(source);
  const PutMsg put = ftsend_put(source, "in/big.bin");

  // The dying ftsend: all its data is in, its END not yet.
  RawClient dying(server_->port());
  ASSERT_TRUE(dying.send_hello(kCapResume));
  ASSERT_TRUE(dying.read_hello());
  Bytes out;
  encode_put(out, 1, put);
  ASSERT_TRUE(dying.send(out));
  auto ready = dying.read_frame();
  ASSERT_TRUE(ready);
  ASSERT_EQ(ready->header.type, FrameType::kPutReady);
  out.clear();
  for (std::uint64_t at = 0; at < content.size(); at += kChunk) {
    const std::size_t length = std::min<std::size_t>(kChunk, content.size() - at);
    encode_data(out, 1, at,
                ByteSpan(reinterpret_cast<const std::uint8_t*>(content.data()) + at, length));
  }
  ASSERT_TRUE(dying.send(out));

  BackgroundProcess rerun;
  rerun.start({bin("ftsend"), "--json", "--retries", "10", source.string(), remote("in/")});
  ASSERT_TRUE(server_->wait_for_err("result=BUSY")) << server_->err();

  // The commit the killed ftsend never saw the end of.
  out.clear();
  encode_end(
      out, 1,
      EndMsg{content.size(), hash128(ByteSpan(reinterpret_cast<const std::uint8_t*>(content.data()),
                                              content.size()))});
  ASSERT_TRUE(dying.send(out));
  auto ok = dying.read_frame();
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->header.type, FrameType::kOk);

  RunResult result = rerun.finish();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("(BUSY); retry 1/10"), std::string::npos) << result.err;
  bool summary = false;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    auto event = nlohmann::json::parse(line);
    if (event["event"] == "skipped") {
      EXPECT_EQ(event["reason"], "committed") << line;
    }
    if (event["event"] != "summary") continue;
    summary = true;
    EXPECT_EQ(event["files"], 0) << line;
    EXPECT_EQ(event["bytes"], 0) << line;
    EXPECT_EQ(event["skipped"], 1) << line;
    EXPECT_EQ(event["exit_code"], 0) << line;
  }
  EXPECT_TRUE(summary) << result.out;
  EXPECT_EQ(read_file(root_.path() / "in" / "big.bin"), content);
  EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-part-").empty());

  // On the wire: only the raw connection's upload carried data; every PUT
  // of the rerun received none.
  const std::string log = stop_server();
  std::size_t with_data = 0;
  std::istringstream log_lines(log);
  for (std::string line; std::getline(log_lines, line);) {
    if (line.find("put path=\"in/big.bin\"") == std::string::npos) continue;
    if (line.find(" bytes=0 ") == std::string::npos) ++with_data;
  }
  EXPECT_EQ(with_data, 1u) << log;
}

}  // namespace
}  // namespace ft::testing
