// Delta uploads (issue 14, docs/protocol.md section 5.12): ftsend onto a
// server that holds an older copy sends only what changed. Each case
// checks the bytes on disk (hashes), what ftsend's --json summary says it
// matched, and what really crossed the connection (ft_test_proxy's
// count): an in-place change, an insertion, truncation and growth, a
// rewritten file, --no-delta, and a cut in the middle that leaves the old
// file as it was.
#include <nlohmann/json.hpp>

#include "common/wire/messages.hpp"
#include "support/raw_client.hpp"
#include "support/resume_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kSize = 16 * kMiB;  // above ftsend's 8 MiB default for delta

class DeltaUpload : public ResumeTest {
 protected:
  void SetUp() override {
    ResumeTest::SetUp();
    fs::create_directory(root_.path() / "dest");
    write_random_file(basis_path(), kSize, 7);
    basis_ = read_file(basis_path());
  }
  fs::path basis_path() const { return root_.path() / "dest" / "big.bin"; }
  fs::path source() const { return work_ / "big.bin"; }

  /// Sends source() to dest/ through a proxy; the summary and the bytes
  /// that went up. The proxy takes DELTA_EARLY out of ftsend's hello: the
  /// signature then comes before PUT_READY, so the bytes that cross depend
  /// on the matching alone, not on how fast the server signs
  /// (delta_early_test.cpp has the early order).
  struct Sent {
    ProxiedRun run;
    nlohmann::json summary;
  };
  Sent send(std::vector<std::string> options = {}) {
    Sent sent;
    const std::vector<std::string> signature_first = {"--clear-capabilities",
                                                      std::to_string(kCapDeltaEarly)};
    sent.run = run_through_proxy(signature_first, [&](const std::string& address) {
      std::vector<std::string> argv = {bin("ftsend"), "--json"};
      argv.insert(argv.end(), options.begin(), options.end());
      argv.push_back(source().string());
      argv.push_back(address + "/dest/");
      return argv;
    });
    if (sent.run.result.exit_code == 0) sent.summary = json_summary(sent.run.result.out);
    return sent;
  }
  void expect_landed() {
    EXPECT_EQ(file_hash(basis_path()), file_hash(source()));
    EXPECT_EQ(tree_names(root_.path()), (std::vector<std::string>{"dest", "dest/big.bin"}))
        << "nothing but the final file may be left";
  }
  std::string basis_;
};

TEST_F(DeltaUpload, InPlaceChangeSendsAboutOneBlock) {
  std::string fresh = basis_;
  for (std::size_t i = 0; i < 4096; ++i)
    fresh[kSize / 2 + i] = static_cast<char>(~fresh[kSize / 2 + i]);
  write_file(source(), fresh);
  Sent sent = send();
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  EXPECT_EQ(sent.summary.value("delta_files", -1), 1);
  EXPECT_GE(sent.summary.value("bytes_matched", std::uint64_t{0}), kSize - 2 * 4096);
  EXPECT_LT(sent.run.traffic().upstream, 256 * 1024u) << sent.run.proxy_err;
}

TEST_F(DeltaUpload, InsertionAtTheStartIsFound) {
  write_random_file(work_ / "inserted", kMiB, 8);
  write_file(source(), read_file(work_ / "inserted") + basis_);
  Sent sent = send();
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  EXPECT_GE(sent.summary.value("bytes_matched", std::uint64_t{0}), kSize - 4096);
  EXPECT_LT(sent.run.traffic().upstream, kMiB + 256 * 1024) << sent.run.proxy_err;
}

TEST_F(DeltaUpload, TruncationAndGrowth) {
  write_file(source(), basis_.substr(0, 12 * kMiB));
  Sent shorter = send();
  ASSERT_EQ(shorter.run.result.exit_code, 0) << shorter.run.result.err;
  expect_landed();
  EXPECT_LT(shorter.run.traffic().upstream, 256 * 1024u) << shorter.run.proxy_err;

  // Now the server holds the 12 MiB file; the source grows past it.
  write_random_file(work_ / "tail", 4 * kMiB, 9);
  write_file(source(), basis_.substr(0, 12 * kMiB) + read_file(work_ / "tail"));
  Sent longer = send();
  ASSERT_EQ(longer.run.result.exit_code, 0) << longer.run.result.err;
  expect_landed();
  EXPECT_EQ(longer.summary.value("bytes_matched", std::uint64_t{0}), 12 * kMiB);
  EXPECT_LT(longer.run.traffic().upstream, 4 * kMiB + 256 * 1024) << longer.run.proxy_err;
}

TEST_F(DeltaUpload, RewrittenFileIsSentWhole) {
  write_random_file(source(), kSize, 99);
  Sent sent = send();
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  EXPECT_EQ(sent.summary.value("bytes_matched", std::uint64_t{1}), 0u);
  EXPECT_GE(sent.run.traffic().upstream, kSize);
}

TEST_F(DeltaUpload, NoDeltaSendsTheWholeFileAndSmallFilesGoWhole) {
  std::string fresh = basis_;
  fresh[100] = static_cast<char>(~fresh[100]);
  write_file(source(), fresh);
  Sent sent = send({"--no-delta"});
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  EXPECT_EQ(sent.summary.value("delta_files", -1), 0);
  EXPECT_GE(sent.run.traffic().upstream, kSize);

  // Under the default threshold a file goes whole; --delta asks anyway.
  write_file(basis_path(), basis_.substr(0, 4 * kMiB));
  write_file(source(), fresh.substr(0, 4 * kMiB));
  Sent small = send();
  ASSERT_EQ(small.run.result.exit_code, 0) << small.run.result.err;
  EXPECT_GE(small.run.traffic().upstream, 4 * kMiB);
  write_file(basis_path(), basis_.substr(0, 4 * kMiB));
  Sent forced = send({"--delta"});
  ASSERT_EQ(forced.run.result.exit_code, 0) << forced.run.result.err;
  expect_landed();
  EXPECT_LT(forced.run.traffic().upstream, 256 * 1024u) << forced.run.proxy_err;
}

TEST_F(DeltaUpload, CutMidDeltaLeavesTheOldFileThenResumes) {
  // The second half rewritten: 8 MiB of DATA after the COPY of the first.
  write_random_file(work_ / "half", 8 * kMiB, 10);
  write_file(source(), basis_.substr(0, 8 * kMiB) + read_file(work_ / "half"));
  ProxiedRun cut =
      run_through_proxy({"--cut-after", std::to_string(4 * kMiB)}, [&](const std::string& address) {
        return std::vector<std::string>{bin("ftsend"), "--retries", "0", source().string(),
                                        address + "/dest/"};
      });
  EXPECT_EQ(cut.result.exit_code, kExitConnection) << cut.result.err;
  EXPECT_EQ(read_file(basis_path()), basis_) << "the older copy must stay as it was";
  for (const auto& name : visible_tree_names(root_.path())) {
    EXPECT_TRUE(name == "dest" || name == "dest/big.bin") << name;
  }
  // The cut upload's partial data (copied and sent bytes, in order) is
  // resumed: the rest goes in full, and the result is the new file.
  RunResult again = run_while_busy({bin("ftsend"), "-v", source().string(), remote("dest/")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE((again.out + again.err).find("resumed"), std::string::npos) << again.out << again.err;
  expect_landed();
}

// A peer that breaks the delta rules: each case closes the connection with
// its reason (or fails the request), and the older copy stays as it was.
class DeltaHostile : public DeltaUpload {
 protected:
  /// Connects with `capabilities`, sends a DELTA PUT of `size` bytes for
  /// dest/big.bin (with put_flags `flags`) and reads up to its PUT_READY:
  /// the SIGNATURE frames that came first, or nullopt if the PUT failed.
  std::optional<std::size_t> delta_put(RawClient& client, std::uint32_t capabilities,
                                       std::uint32_t flags, std::uint64_t size) {
    EXPECT_TRUE(client.send_hello(capabilities));
    EXPECT_TRUE(client.read_hello());
    PutMsg put;
    put.path = "dest/big.bin";
    put.size = size;
    put.put_flags = flags;
    Bytes frame;
    encode_put(frame, 1, put);
    EXPECT_TRUE(client.send(frame));
    std::size_t signatures = 0;
    for (int i = 0; i < 100; ++i) {
      auto reply = client.read_frame();
      if (!reply) return std::nullopt;
      if (reply->header.type == FrameType::kPutReady) return signatures;
      if (reply->header.type != FrameType::kSignature) return std::nullopt;
      EXPECT_TRUE(decode_signature(reply->payload));
      ++signatures;
    }
    return std::nullopt;
  }
  static Bytes copy(std::uint64_t offset, std::uint64_t basis_offset, std::uint64_t length) {
    Bytes frame;
    encode_copy(frame, 1, CopyMsg{offset, basis_offset, length});
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

TEST_F(DeltaHostile, CopyBeyondTheBasis) {
  RawClient client(server_->port());
  auto signatures = delta_put(client, kCapDeltaPut, kPutDelta, kSize);
  ASSERT_EQ(signatures, std::optional<std::size_t>(1));
  client.send(copy(0, kSize - 4096, 8192));
  expect_closed_with(client, "COPY for request 1, beyond the basis");
  EXPECT_EQ(read_file(basis_path()), basis_);
}

TEST_F(DeltaHostile, CopyWithoutASignature) {
  RawClient client(server_->port());
  auto signatures = delta_put(client, kCapDeltaPut, 0, kSize);  // a plain PUT
  ASSERT_EQ(signatures, std::optional<std::size_t>(0));
  client.send(copy(0, 0, 4096));
  expect_closed_with(client, "COPY for request 1, without a signature");
}

TEST_F(DeltaHostile, CopyWithAGapOrPastTheSize) {
  RawClient client(server_->port());
  ASSERT_EQ(delta_put(client, kCapDeltaPut, kPutDelta, 8192), std::optional<std::size_t>(1));
  client.send(copy(0, 0, 16384));
  expect_closed_with(client, "past the declared size");
  RawClient second(server_->port());
  ASSERT_EQ(delta_put(second, kCapDeltaPut, kPutDelta, kSize), std::optional<std::size_t>(1));
  second.send(copy(4096, 0, 4096));
  expect_closed_with(second, "gap");
}

TEST_F(DeltaHostile, DeltaFlagNotAgreedFailsTheRequest) {
  RawClient client(server_->port());
  EXPECT_EQ(delta_put(client, 0, kPutDelta, kSize), std::nullopt);
}

TEST_F(DeltaHostile, ASignatureFromAClientIsRefused) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.send_hello(kCapDeltaPut));
  delta::SignaturePart part;
  part.basis_size = ~0ull;
  part.block_size = delta::block_size_for(part.basis_size);
  part.blocks.resize(delta::kBlocksPerFrame);
  Bytes frame;
  encode_signature(frame, 1, part);
  ASSERT_TRUE(client.send(frame));
  auto error = client.read_connection_error();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
  // A SIGNATURE claiming more blocks than fit a frame is refused by its
  // header's length before any payload is read.
  RawClient huge(server_->port());
  ASSERT_TRUE(huge.send_hello(kCapDeltaPut));
  Bytes head(limits::kFrameHeaderSize);
  encode_header_to(head.data(), FrameHeader{FrameType::kSignature, 0, 1, 0xffffffffu});
  ASSERT_TRUE(huge.send(head));
  auto too_long = huge.read_connection_error();
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
}

// ftsend against a server whose SIGNATURE breaks the rules
// (tests/tools/ft_fake_server.cpp, scenario "signature"): each is a
// protocol error (exit 8) naming the rule, never a crash or a huge
// allocation.
class HostileSignature : public ::testing::TestWithParam<std::pair<const char*, const char*>> {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.start({bin("ft_fake_server"), "--scenario", "signature"}, error)) << error;
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    }
  }
  TempDir source_;
  ListeningProcess server_;
};

TEST_P(HostileSignature, IsAProtocolError) {
  const auto [name, reason] = GetParam();
  const fs::path file = source_ / name;
  write_random_file(file, 2 * kMiB, 3);
  const bool unasked = std::string(name) == "unasked.bin";
  auto result = run({bin("ftsend"), "--retries", "0", unasked ? "--no-delta" : "--delta",
                     file.string(), loopback_remote(server_.port(), "up/")},
                    std::chrono::seconds(20));
  EXPECT_EQ(result.exit_code, static_cast<int>(Exit::kProtocol)) << result.err;
  EXPECT_NE(result.err.find(reason), std::string::npos) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileSignature,
                         ::testing::Values(std::pair{"many.bin", "more blocks than the basis has"},
                                           std::pair{"order.bin", "blocks from 5, expected 0"},
                                           std::pair{"rule.bin", "is not the rule's"},
                                           std::pair{"count.bin", "malformed SIGNATURE"},
                                           std::pair{"early.bin", "before its whole SIGNATURE"},
                                           std::pair{"unasked.bin", "did not ask for one"}),
                         [](const auto& info) {
                           std::string name = info.param.first;
                           return name.substr(0, name.find('.'));
                         });

}  // namespace
}  // namespace ft::testing
