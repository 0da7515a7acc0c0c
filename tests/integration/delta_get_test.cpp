// Delta downloads (issue 14, docs/protocol.md section 5.16): ftget onto an
// older local copy receives only what changed. Each case checks the bytes
// on disk (hashes), what ftget's --json summary says it matched, and what
// really came down the connection (ft_test_proxy's count): an in-place
// change, an insertion, a rewritten file, a tree, --no-delta, a local copy
// changed during the download, a server without DELTA_GET, and a raw
// client breaking the SIGNATURE rules.
#include <atomic>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/wire/messages.hpp"
#include "support/raw_client.hpp"
#include "support/resume_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kSize = 16 * kMiB;  // above ftget's 8 MiB default for delta

class DeltaDownload : public ResumeTest {
 protected:
  void SetUp() override {
    ResumeTest::SetUp();
    fs::create_directory(root_.path() / "dest");
    fs::create_directory(local_dir());
    write_random_file(local(), kSize, 7);
    basis_ = read_file(local());
  }
  fs::path remote_file() const { return root_.path() / "dest" / "big.bin"; }
  fs::path local_dir() const { return work_ / "get"; }
  fs::path local() const { return local_dir() / "big.bin"; }

  struct Got {
    ProxiedRun run;
    nlohmann::json summary;
  };
  /// Fetches dest/big.bin (or with -r, dest/) into local_dir() through a
  /// proxy; the summary and the bytes that came down.
  Got get(std::vector<std::string> options = {}, const std::string& what = "dest/big.bin") {
    Got got;
    got.run = run_through_proxy({}, [&](const std::string& address) {
      std::vector<std::string> argv = {bin("ftget"), "--json"};
      argv.insert(argv.end(), options.begin(), options.end());
      argv.push_back(address + "/" + what);
      argv.push_back(local_dir().string());
      return argv;
    });
    if (got.run.result.exit_code == 0) got.summary = json_summary(got.run.result.out);
    return got;
  }
  void expect_landed() {
    EXPECT_EQ(file_hash(local()), file_hash(remote_file()));
    EXPECT_EQ(tree_names(local_dir()), (std::vector<std::string>{"big.bin"}))
        << "nothing but the final file may be left";
  }
  std::string basis_;
};

TEST_F(DeltaDownload, InPlaceChangeReceivesAboutOneBlock) {
  std::string fresh = basis_;
  for (std::size_t i = 0; i < 4096; ++i)
    fresh[kSize / 2 + i] = static_cast<char>(~fresh[kSize / 2 + i]);
  write_file(remote_file(), fresh);
  Got got = get();
  ASSERT_EQ(got.run.result.exit_code, 0) << got.run.result.err;
  expect_landed();
  EXPECT_EQ(got.summary.value("delta_files", -1), 1);
  EXPECT_GE(got.summary.value("bytes_matched", std::uint64_t{0}), kSize - 2 * 4096);
  EXPECT_LT(got.run.traffic().downstream, 256 * 1024u) << got.run.proxy_err;
  // The server logs the bytes it sent as DATA.
  EXPECT_NE(stop_server().find("op=get path=\"dest/big.bin\" bytes=4096 "), std::string::npos);
}

TEST_F(DeltaDownload, InsertionAtTheStartIsFound) {
  write_random_file(work_ / "inserted", kMiB, 8);
  write_file(remote_file(), read_file(work_ / "inserted") + basis_);
  Got got = get({"-v"});
  ASSERT_EQ(got.run.result.exit_code, 0) << got.run.result.err;
  expect_landed();
  EXPECT_GE(got.summary.value("bytes_matched", std::uint64_t{0}), kSize - 4096);
  EXPECT_LT(got.run.traffic().downstream, kMiB + 256 * 1024) << got.run.proxy_err;
  EXPECT_NE(got.run.result.err.find("delta: "), std::string::npos) << got.run.result.err;
}

TEST_F(DeltaDownload, RewrittenFileComesWhole) {
  write_random_file(remote_file(), kSize + 5, 99);
  Got got = get();
  ASSERT_EQ(got.run.result.exit_code, 0) << got.run.result.err;
  expect_landed();
  EXPECT_EQ(got.summary.value("bytes_matched", std::uint64_t{1}), 0u);
  EXPECT_GE(got.run.traffic().downstream, kSize);
}

TEST_F(DeltaDownload, NoDeltaAndTheSameFileComeWhole) {
  std::string fresh = basis_;
  fresh[100] = static_cast<char>(~fresh[100]);
  write_file(remote_file(), fresh);
  Got plain = get({"--no-delta"});
  ASSERT_EQ(plain.run.result.exit_code, 0) << plain.run.result.err;
  expect_landed();
  EXPECT_EQ(plain.summary.value("delta_files", -1), 0);
  EXPECT_GE(plain.run.traffic().downstream, kSize);

  // Now the local file has the remote one's size and mtime: fetched again
  // on request, whole (by default) or as a delta (--delta).
  Got same = get();
  ASSERT_EQ(same.run.result.exit_code, 0) << same.run.result.err;
  EXPECT_EQ(same.summary.value("delta_files", -1), 0);
  EXPECT_GE(same.run.traffic().downstream, kSize);
  Got forced = get({"--delta"});
  ASSERT_EQ(forced.run.result.exit_code, 0) << forced.run.result.err;
  expect_landed();
  EXPECT_EQ(forced.summary.value("delta_files", -1), 1);
  EXPECT_LT(forced.run.traffic().downstream, 64 * 1024u) << forced.run.proxy_err;
}

TEST_F(DeltaDownload, TreeFetchesChangedFilesAsDeltas) {
  std::string fresh = basis_;
  fresh[kSize - 1] = static_cast<char>(~fresh[kSize - 1]);
  write_file(remote_file(), fresh);
  write_random_file(root_.path() / "dest" / "small.bin", 100 * 1024, 3);
  Got got = get({"-r"}, "dest/");
  ASSERT_EQ(got.run.result.exit_code, 0) << got.run.result.err;
  EXPECT_EQ(file_hash(local()), file_hash(remote_file()));
  EXPECT_EQ(file_hash(local_dir() / "small.bin"), file_hash(root_.path() / "dest" / "small.bin"));
  EXPECT_EQ(got.summary.value("delta_files", -1), 1);
  EXPECT_LT(got.run.traffic().downstream, 100 * 1024 + 256 * 1024u) << got.run.proxy_err;
}

TEST_F(DeltaDownload, LocalCopyChangedMeanwhileIsFetchedAgainWhole) {
  // 4 MiB of new data first (paced: a second or so), then the local copy's
  // last 12 MiB as COPY frames; the local copy changes in place while the
  // new data arrives, so its copied ranges are not what was signed.
  write_random_file(work_ / "head", 4 * kMiB, 11);
  write_file(remote_file(), read_file(work_ / "head") + basis_.substr(4 * kMiB));
  std::atomic<bool> changed = false;
  std::thread changer([&] {
    const fs::path partial = local_dir() / ".ft-part.big.bin";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      if (fs::file_size(partial, ec) >= kMiB && !ec) {
        std::fstream f(local(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(10 * kMiB));
        f.write("changed", 7);
        changed = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the file's size
    }
  });
  Got got = get({"-v", "--bwlimit", "4M"});
  changer.join();
  ASSERT_TRUE(changed) << "the partial file never grew to 1 MiB";
  ASSERT_EQ(got.run.result.exit_code, 0) << got.run.result.err;
  expect_landed();
  EXPECT_NE(got.run.result.err.find("the delta did not verify"), std::string::npos)
      << got.run.result.err;
  EXPECT_EQ(got.summary.value("delta_files", -1), 0);
}

// A server from before DELTA_GET (the fake server does not offer it):
// ftget sends a plain GET, even with --delta and a local copy.
TEST(DeltaDownloadOldServer, FetchesPlainly) {
  ListeningProcess server;
  std::string error;
  ASSERT_TRUE(server.start({bin("ft_fake_server")}, error)) << error;
  TempDir local;
  write_random_file(local / "x.bin", 256 * 1024, 4);
  RunResult result = run({bin("ftget"), "--json", "--delta",
                          loopback_remote(server.port(), "x.bin"), local.path().string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_file(local / "x.bin"), "payload:x.bin");
  EXPECT_EQ(json_summary(result.out).value("delta_files", -1), 0);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.err();
}

// A raw client: the server's side of the rules.
class DeltaGetRaw : public DeltaDownload {
 protected:
  void SetUp() override {
    DeltaDownload::SetUp();
    std::string fresh = basis_;
    fresh[5000] = static_cast<char>(~fresh[5000]);
    write_file(remote_file(), fresh);
  }
  static Bytes get_frame(std::uint8_t flags, std::uint64_t offset = 0, std::uint32_t id = 1) {
    Bytes frame;
    encode_get(frame, id, GetMsg{"dest/big.bin", offset}, flags);
    return frame;
  }
  std::vector<delta::SignaturePart> signature() const {
    delta::SignatureBuilder builder(basis_.size());
    builder.feed(ByteSpan(reinterpret_cast<const std::uint8_t*>(basis_.data()), basis_.size()));
    return builder.parts();
  }
  static Bytes signature_frame(const delta::SignaturePart& part, std::uint32_t id = 1) {
    Bytes frame;
    encode_signature(frame, id, part);
    return frame;
  }
  void expect_closed_with(RawClient& client, const std::string& reason) {
    auto error = client.read_connection_error();
    ASSERT_TRUE(error) << "no connection ERROR for: " << reason;
    EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
    EXPECT_NE(error->message.find(reason), std::string::npos) << error->message;
    EXPECT_TRUE(client.closed_by_peer());
  }
};

TEST_F(DeltaGetRaw, SignatureBeforeGetReadyGetsCopiesInOrder) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.send_hello(kCapDeltaGet));
  ASSERT_TRUE(client.read_hello());
  ASSERT_TRUE(client.send(get_frame(kFlagDelta)));
  for (const auto& part : signature()) ASSERT_TRUE(client.send(signature_frame(part)));
  std::uint64_t at = 0, copied = 0, sent = 0;
  std::string file;
  bool ended = false;
  for (int i = 0; i < 10000 && !ended; ++i) {
    auto frame = client.read_frame();
    ASSERT_TRUE(frame);
    switch (frame->header.type) {
      case FrameType::kGetReady:
        ASSERT_EQ(at, 0u);
        break;
      case FrameType::kCopy: {
        auto copy = decode_copy(frame->payload);
        ASSERT_TRUE(copy);
        ASSERT_EQ(copy->offset, at);
        file += basis_.substr(copy->basis_offset, copy->length);
        at += copy->length;
        copied += copy->length;
        break;
      }
      case FrameType::kData: {
        auto data = decode_data(frame->payload);
        ASSERT_TRUE(data);
        ASSERT_EQ(data->offset, at);
        file.append(reinterpret_cast<const char*>(data->bytes.data()), data->bytes.size());
        at += data->bytes.size();
        sent += data->bytes.size();
        break;
      }
      case FrameType::kEnd: {
        auto end = decode_end(frame->payload);
        ASSERT_TRUE(end);
        EXPECT_EQ(end->total_size, kSize);
        EXPECT_EQ(
            end->file_hash,
            hash128(ByteSpan(reinterpret_cast<const std::uint8_t*>(file.data()), file.size())));
        ended = true;
        break;
      }
      default:
        FAIL() << "unexpected frame " << frame_type_name(std::uint8_t(frame->header.type));
    }
  }
  ASSERT_TRUE(ended);
  EXPECT_EQ(file, read_file(remote_file()));
  EXPECT_EQ(sent, 4096u);
  EXPECT_EQ(copied, kSize - 4096);
}

TEST_F(DeltaGetRaw, EmptySignatureGetsThePlainFile) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.send_hello(kCapDeltaGet));
  ASSERT_TRUE(client.read_hello());
  ASSERT_TRUE(client.send(get_frame(kFlagDelta)));
  delta::SignaturePart none;
  none.block_size = delta::block_size_for(0);
  ASSERT_TRUE(client.send(signature_frame(none)));
  std::uint64_t data = 0;
  for (int i = 0; i < 100; ++i) {
    auto frame = client.read_frame();
    ASSERT_TRUE(frame);
    ASSERT_NE(frame->header.type, FrameType::kCopy);
    if (frame->header.type == FrameType::kData) data += decode_data(frame->payload)->bytes.size();
    if (frame->header.type == FrameType::kEnd) break;
  }
  EXPECT_EQ(data, kSize);
}

TEST_F(DeltaGetRaw, DeltaFlagWithoutTheCapabilityOrWithAnOffset) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.send_hello(0));
  ASSERT_TRUE(client.send(get_frame(kFlagDelta)));
  expect_closed_with(client, "GET flag DELTA without DELTA_GET");
  RawClient offset(server_->port());
  ASSERT_TRUE(offset.send_hello(kCapDeltaGet));
  ASSERT_TRUE(offset.send(get_frame(kFlagDelta, 4096)));
  expect_closed_with(offset, "GET flag DELTA with offset 4096");
}

// Each broken SIGNATURE closes the connection naming its rule.
TEST_F(DeltaGetRaw, BadSignaturesCloseTheConnection) {
  const auto parts = signature();
  ASSERT_EQ(parts.size(), 1u);
  struct Case {
    const char* reason;
    std::function<std::vector<Bytes>()> frames;
  };
  const std::vector<Case> cases = {
      {"SIGNATURE for request 1, whose GET did not set DELTA",
       [&] {
         return std::vector<Bytes>{get_frame(0), signature_frame(parts[0])};
       }},
      {"SIGNATURE for request 1, after its whole signature",
       [&] {
         return std::vector<Bytes>{get_frame(kFlagDelta), signature_frame(parts[0]),
                                   signature_frame(parts[0])};
       }},
      {"SIGNATURE for request 2, which is not in flight",
       [&] { return std::vector<Bytes>{signature_frame(parts[0], 2)}; }},
      {"is not the rule's",
       [&] {
         auto wrong = parts[0];
         wrong.block_size = 8192;
         return std::vector<Bytes>{get_frame(kFlagDelta), signature_frame(wrong)};
       }},
      {"blocks from 5, expected 0",
       [&] {
         auto later = parts[0];
         later.first_block = 5;
         later.blocks.resize(3);
         return std::vector<Bytes>{get_frame(kFlagDelta), signature_frame(later)};
       }},
      {"more blocks than the basis has (2)",
       [&] {
         delta::SignaturePart many;
         many.basis_size = 8192;
         many.block_size = 4096;
         many.blocks.resize(3);
         return std::vector<Bytes>{get_frame(kFlagDelta), signature_frame(many)};
       }},
      {"SIGNATURE for request 1, malformed",
       [&] {
         Bytes lying = signature_frame(parts[0]);
         store_be32(lying.data() + limits::kFrameHeaderSize + 16, 7);  // count says 7
         return std::vector<Bytes>{get_frame(kFlagDelta), lying};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    RawClient client(server_->port());
    ASSERT_TRUE(client.send_hello(kCapDeltaGet));
    for (const Bytes& frame : c.frames()) client.send(frame);
    expect_closed_with(client, c.reason);
  }
  // The server is still serving, and the file was not touched.
  RawClient after(server_->port());
  ASSERT_TRUE(after.send_hello(kCapDeltaGet));
  ASSERT_TRUE(after.read_hello());
}

}  // namespace
}  // namespace ft::testing
