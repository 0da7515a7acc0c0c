// Delta uploads that never wait for the signature (DELTA_EARLY,
// docs/protocol.md section 5.12; issue 14 part 2): ftserve answers a DELTA
// PUT with PUT_READY at once and sends the signature of its older copy
// after it, while ftsend's DATA already flows; the rest of the file is
// then matched and sent as COPY where it did not change. Each case checks
// the bytes on disk (hashes) and the order of the frames on the wire
// (ft_test_proxy's recordings of both directions). With the capability
// taken out of the client's hello (ft_test_proxy --clear-capabilities, as
// an older client sends it) both programs fall back to the signature
// first, and the result is the same file.
#include <nlohmann/json.hpp>

#include "common/delta/block_signature.hpp"
#include "common/wire/messages.hpp"
#include "support/raw_client.hpp"
#include "support/resume_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

// Big enough that signing it takes far longer than ftsend needs to act on
// PUT_READY (its first DATA leaves before the signature arrives), and
// that most of it is left to match once the signature is in.
constexpr std::uint64_t kSize = 48 * kMiB;

/// One frame of a recorded stream: its type and payload.
struct WireFrame {
  FrameType type;
  Bytes payload;
};

/// The frames of a stream recorded by ft_test_proxy; `frame_check` as the
/// connection agreed (ftsend and ftserve agree FRAME_CHECK by default).
std::vector<WireFrame> frames_of(const std::string& stream, Sender sender, bool frame_check) {
  FrameDecoder decoder(
      FrameDecoder::Options{.sender = sender, .expect_hello = true, .frame_check = frame_check});
  std::vector<WireFrame> out;
  std::size_t fed = 0;
  for (;;) {
    const DecodeStatus status = decoder.next();
    if (status == DecodeStatus::kError) {
      ADD_FAILURE() << "recorded stream: " << decoder.error().reason;
      return out;
    }
    if (status == DecodeStatus::kFrame) {
      Frame frame = decoder.take_frame();
      out.push_back({frame.header.type, std::move(frame.payload)});
      continue;
    }
    if (status == DecodeStatus::kHello) continue;
    if (fed == stream.size()) return out;
    fed += decoder.feed(
        ByteSpan(reinterpret_cast<const std::uint8_t*>(stream.data()) + fed, stream.size() - fed));
  }
}

/// Where the first frame of `type` is, or frames.size().
std::size_t first_of(const std::vector<WireFrame>& frames, FrameType type) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].type == type) return i;
  }
  return frames.size();
}

class EarlyDelta : public ResumeTest {
 protected:
  void SetUp() override {
    ResumeTest::SetUp();
    fs::create_directory(root_.path() / "dest");
    write_random_file(basis_path(), kSize, 21);
    basis_ = read_file(basis_path());
  }
  fs::path basis_path() const { return root_.path() / "dest" / "big.bin"; }
  fs::path source() const { return work_ / "big.bin"; }

  /// ftsend --json of source() to dest/ through a proxy that records both
  /// directions (with `proxy_options` besides).
  struct Sent {
    ProxiedRun run;
    nlohmann::json summary;
    std::vector<WireFrame> up;
    std::vector<WireFrame> down;
  };
  Sent send(std::vector<std::string> proxy_options = {}) {
    const fs::path up = work_ / "up.rec";
    const fs::path down = work_ / "down.rec";
    proxy_options.insert(proxy_options.end(),
                         {"--record", up.string(), "--record-downstream", down.string()});
    Sent sent;
    sent.run = run_through_proxy(proxy_options, [&](const std::string& address) {
      return std::vector<std::string>{bin("ftsend"), "--json",          "--retries",
                                      "0",           source().string(), address + "/dest/"};
    });
    if (sent.run.result.exit_code == 0) sent.summary = json_summary(sent.run.result.out);
    sent.up = frames_of(read_file(up), Sender::kClient, true);
    sent.down = frames_of(read_file(down), Sender::kServer, true);
    fs::remove(up);
    fs::remove(down);
    return sent;
  }
  void expect_landed() {
    EXPECT_EQ(file_hash(basis_path()), file_hash(source()));
    EXPECT_EQ(tree_names(root_.path()), (std::vector<std::string>{"dest", "dest/big.bin"}))
        << "nothing but the final file may be left";
  }
  /// The offset of the first DATA or COPY the client sent, and its type.
  static std::pair<FrameType, std::uint64_t> first_payload_frame(const std::vector<WireFrame>& up) {
    for (const WireFrame& frame : up) {
      if (frame.type == FrameType::kData) return {frame.type, decode_data(frame.payload)->offset};
      if (frame.type == FrameType::kCopy) return {frame.type, decode_copy(frame.payload)->offset};
    }
    return {FrameType::kOk, ~0ull};
  }
  std::string basis_;
};

TEST_F(EarlyDelta, InPlaceChangeDataStartsBeforeTheSignatureThenCopies) {
  std::string fresh = basis_;
  for (std::size_t i = 0; i < 4096; ++i)
    fresh[40 * kMiB + i] = static_cast<char>(~fresh[40 * kMiB + i]);
  write_file(source(), fresh);
  // A link of 10 MB/s each way: on loopback the whole file could be sent
  // as DATA before the signature is made.
  Sent sent = send({"--rate", "10000000"});
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  // The server: PUT_READY at once, the signature after it.
  const std::size_t ready = first_of(sent.down, FrameType::kPutReady);
  const std::size_t signature = first_of(sent.down, FrameType::kSignature);
  ASSERT_LT(ready, sent.down.size());
  ASSERT_LT(signature, sent.down.size());
  EXPECT_LT(ready, signature) << "PUT_READY must not wait for the signature";
  // The client: DATA from offset 0 before any COPY, then COPY for most of
  // the file.
  EXPECT_EQ(first_payload_frame(sent.up), std::make_pair(FrameType::kData, std::uint64_t{0}));
  EXPECT_LT(first_of(sent.up, FrameType::kData), first_of(sent.up, FrameType::kCopy));
  EXPECT_EQ(sent.summary.value("delta_files", -1), 1);
  EXPECT_GE(sent.summary.value("bytes_matched", std::uint64_t{0}), kSize / 2);
  EXPECT_LT(sent.run.traffic().upstream, kSize / 2) << sent.run.proxy_err;
}

TEST_F(EarlyDelta, RewrittenFileIsSentWholeWithoutWaiting) {
  write_random_file(source(), kSize, 99);
  Sent sent = send();
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  EXPECT_LT(first_of(sent.down, FrameType::kPutReady), first_of(sent.down, FrameType::kSignature));
  EXPECT_EQ(first_payload_frame(sent.up), std::make_pair(FrameType::kData, std::uint64_t{0}));
  EXPECT_EQ(first_of(sent.up, FrameType::kCopy), sent.up.size()) << "nothing matches";
  EXPECT_EQ(sent.summary.value("bytes_matched", std::uint64_t{1}), 0u);
  EXPECT_GE(sent.run.traffic().upstream, kSize);
}

TEST_F(EarlyDelta, AClientWithoutTheCapabilityGetsTheSignatureFirst) {
  // ftsend's hello loses DELTA_EARLY on the way, as an older client's
  // lacks it: ftserve answers without it, and ftsend sees a server
  // without it; both keep the order of before.
  std::string fresh = basis_;
  for (std::size_t i = 0; i < 4096; ++i)
    fresh[40 * kMiB + i] = static_cast<char>(~fresh[40 * kMiB + i]);
  write_file(source(), fresh);
  Sent sent = send({"--clear-capabilities", std::to_string(kCapDeltaEarly)});
  ASSERT_EQ(sent.run.result.exit_code, 0) << sent.run.result.err;
  expect_landed();
  const std::size_t ready = first_of(sent.down, FrameType::kPutReady);
  ASSERT_LT(ready, sent.down.size());
  EXPECT_LT(first_of(sent.down, FrameType::kSignature), ready);
  for (std::size_t i = ready; i < sent.down.size(); ++i) {
    EXPECT_NE(sent.down[i].type, FrameType::kSignature) << "a SIGNATURE after PUT_READY";
  }
  // The whole signature was there first: the file starts with a COPY.
  EXPECT_EQ(first_payload_frame(sent.up), std::make_pair(FrameType::kCopy, std::uint64_t{0}));
  EXPECT_LT(sent.run.traffic().upstream, 256 * 1024u) << sent.run.proxy_err;
}

TEST_F(EarlyDelta, ARawClientSendsDataBeforeReadingTheSignature) {
  // The wire contract, step by step: PUT_READY is the first answer; DATA
  // is taken before the client read a byte of the signature; once the
  // whole signature is read, COPY takes the rest from the basis.
  RawClient client(server_->port());
  ASSERT_TRUE(client.send_hello(kCapDeltaPut | kCapDeltaEarly));
  ASSERT_TRUE(client.read_hello());
  ASSERT_NE(client.server_hello().capabilities & kCapDeltaEarly, 0u);
  write_random_file(work_ / "head", kMiB, 5);
  const std::string head = read_file(work_ / "head");
  const std::string fresh = head + basis_.substr(kMiB);
  PutMsg put;
  put.path = "dest/big.bin";
  put.size = fresh.size();
  put.put_flags = kPutDelta;
  Bytes frame;
  encode_put(frame, 1, put);
  ASSERT_TRUE(client.send(frame));
  auto first = client.read_frame();
  ASSERT_TRUE(first);
  ASSERT_EQ(first->header.type, FrameType::kPutReady) << "PUT_READY must come first";
  frame.clear();
  encode_data(frame, 1, 0,
              ByteSpan(reinterpret_cast<const std::uint8_t*>(head.data()), head.size()));
  ASSERT_TRUE(client.send(frame));
  delta::Signature whole;
  while (!whole.complete()) {
    auto next = client.read_frame();
    ASSERT_TRUE(next);
    ASSERT_EQ(next->header.type, FrameType::kSignature);
    auto part = decode_signature(next->payload);
    ASSERT_TRUE(part);
    ASSERT_EQ(whole.add(*part), std::nullopt);
  }
  EXPECT_EQ(whole.basis_size(), kSize);
  frame.clear();
  encode_copy(frame, 1, CopyMsg{kMiB, kMiB, kSize - kMiB});
  encode_end(
      frame, 1,
      EndMsg{fresh.size(),
             hash128(ByteSpan(reinterpret_cast<const std::uint8_t*>(fresh.data()), fresh.size()))});
  ASSERT_TRUE(client.send(frame));
  auto ok = client.read_frame(std::chrono::seconds(30));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, FrameType::kOk);
  EXPECT_EQ(read_file(basis_path()), fresh);
}

}  // namespace
}  // namespace ft::testing
