// A delta upload's server side (docs/protocol.md, section 5.12) driven by
// the upload test bench: without DELTA_EARLY the signature comes before
// PUT_READY; with it PUT_READY comes at once, DATA is taken while the
// basis is signed, the signature follows (one of no block when there is
// nothing to sign or the END came first), and a COPY is refused until the
// whole signature was sent. The hashing slots are held back by the test
// (FakeConnection::hold_hashing) so that every order is reached on purpose.
#include "common/delta/block_signature.hpp"
#include "tests/unit/support/feed_plan.hpp"
#include "upload_machine.hpp"

namespace ft::server::unit {
namespace {

constexpr std::size_t kBlock = 4096;
constexpr std::size_t kBasisSize = 32 * kBlock;  // 128 KiB: 32 blocks of 4 KiB

class DeltaUploadMachine : public UploadMachine {
 protected:
  void SetUp() override {
    UploadMachine::SetUp();
    conn_->delta_put_ = true;
    basis_ = test::pattern_bytes(kBasisSize, 11);
    write_file("f.bin", basis_);
    // The new version: block 5 changed, the rest as the basis.
    fresh_ = basis_;
    for (std::size_t i = 5 * kBlock; i < 6 * kBlock; ++i) fresh_[i] ^= 0x5a;
  }

  void write_file(const std::string& name, const Bytes& content) {
    std::ofstream out(fs::path(dir_) / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
  }

  bool data_of(std::uint64_t offset, std::size_t length) {
    Bytes out;
    encode_data(out, kId, offset, ByteSpan(fresh_).subspan(offset, length));
    Frame frame = frame_of(out);
    return upload_->on_frame(frame);
  }
  bool copy(std::uint64_t offset, std::uint64_t basis_offset, std::uint64_t length) {
    Bytes out;
    encode_copy(out, kId, CopyMsg{offset, basis_offset, length});
    Frame frame = frame_of(out);
    return upload_->on_frame(frame);
  }
  bool end_fresh() {
    Bytes out;
    encode_end(out, kId, EndMsg{fresh_.size(), hash128(fresh_)});
    Frame frame = frame_of(out);
    return upload_->on_frame(frame);
  }
  /// The last frame sent is OK (else what the ERROR says).
  void expect_ok() {
    ASSERT_FALSE(conn_->sent.empty());
    if (conn_->sent.back().type == FrameType::kError) {
      auto error = decode_error(conn_->sent.back().payload);
      ADD_FAILURE() << "ERROR " << (error ? error->message : "(malformed)");
      return;
    }
    EXPECT_EQ(conn_->sent.back().type, FrameType::kOk);
  }
  /// Whether the file `name` holds exactly `bytes` (compared by hash: no
  /// megabytes in a failure message).
  bool holds(const std::string& name, const Bytes& bytes) const {
    const std::string now = content(name);
    return now.size() == bytes.size() &&
           hash128(ByteSpan(reinterpret_cast<const std::uint8_t*>(now.data()), now.size())) ==
               hash128(bytes);
  }
  /// The SIGNATURE frames sent so far, decoded.
  std::vector<delta::SignaturePart> signature() const {
    std::vector<delta::SignaturePart> parts;
    for (const Sent& s : conn_->sent) {
      if (s.type != FrameType::kSignature) continue;
      auto part = decode_signature(s.payload);
      EXPECT_TRUE(part);
      if (part) parts.push_back(*part);
    }
    return parts;
  }
  static std::vector<delta::SignaturePart> signature_of(const Bytes& content) {
    delta::SignatureBuilder builder(content.size());
    builder.feed(content);
    return builder.parts();
  }
  /// Runs the signing that waits for its hashing slot.
  void grant_hashing() {
    ASSERT_EQ(conn_->held_hashing.size(), 1u);
    auto run_it = std::move(conn_->held_hashing.front());
    conn_->held_hashing.clear();
    run_it();
    run();
  }

  Bytes basis_;
  Bytes fresh_;
};

TEST_F(DeltaUploadMachine, WithoutEarlyTheSignatureComesBeforePutReady) {
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kSignature, FrameType::kPutReady}));
  EXPECT_EQ(signature(), signature_of(basis_));
  EXPECT_TRUE(copy(0, 0, 5 * kBlock));
  EXPECT_TRUE(data_of(5 * kBlock, kBlock));
  EXPECT_TRUE(copy(6 * kBlock, 6 * kBlock, kBasisSize - 6 * kBlock));
  EXPECT_TRUE(end_fresh());
  run();
  expect_ok();
  EXPECT_TRUE(holds("f.bin", fresh_));
  EXPECT_EQ(conn_->hashing_slots, 0);
}

TEST_F(DeltaUploadMachine, EarlyPutReadyComesAtOnceAndTheSignatureAfterIt) {
  conn_->delta_early_ = true;
  conn_->hold_hashing = true;
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady})
      << "PUT_READY may not wait for the signature";
  // DATA is taken while the signature is not there yet; a COPY is not.
  EXPECT_TRUE(data_of(0, kBlock));
  EXPECT_TRUE(data_of(kBlock, kBlock));
  run();
  grant_hashing();
  EXPECT_EQ(sent_types().front(), FrameType::kPutReady);
  EXPECT_EQ(signature(), signature_of(basis_));
  EXPECT_TRUE(copy(2 * kBlock, 2 * kBlock, 3 * kBlock));
  EXPECT_TRUE(data_of(5 * kBlock, kBlock));
  EXPECT_TRUE(copy(6 * kBlock, 6 * kBlock, kBasisSize - 6 * kBlock));
  EXPECT_TRUE(end_fresh());
  run();
  expect_ok();
  EXPECT_TRUE(holds("f.bin", fresh_));
  EXPECT_EQ(names(), std::set<std::string>{"f.bin"});
  EXPECT_EQ(conn_->hashing_slots, 0) << "the signing's hashing slot was not given back";
}

TEST_F(DeltaUploadMachine, EarlyCopyBeforeTheSignatureIsRefused) {
  conn_->delta_early_ = true;
  conn_->hold_hashing = true;
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  ASSERT_EQ(sent_types(), std::vector<FrameType>{FrameType::kPutReady});
  EXPECT_FALSE(copy(0, 0, kBlock));
  EXPECT_EQ(upload_->frame_violation(), "without a signature sent for it");
  // The session closes the connection: the upload is cut, its slot given
  // back once it comes.
  upload_->abort(ErrorCode::PROTOCOL, false);
  run();
  grant_hashing();
  EXPECT_TRUE(signature().empty()) << "nothing is signed for an upload that ended";
  EXPECT_EQ(conn_->hashing_slots, 0);
  EXPECT_EQ(names(), std::set<std::string>{"f.bin"});
  EXPECT_TRUE(holds("f.bin", basis_));
}

TEST_F(DeltaUploadMachine, EarlyEndBeforeTheSlotGetsASignatureOfNoBlock) {
  conn_->delta_early_ = true;
  conn_->hold_hashing = true;
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  for (std::size_t at = 0; at < fresh_.size(); at += kBlock) EXPECT_TRUE(data_of(at, kBlock));
  EXPECT_TRUE(end_fresh());
  run();
  // The commit does not wait for a slot: the signature is of no use now.
  EXPECT_EQ(sent_types(),
            (std::vector<FrameType>{FrameType::kPutReady, FrameType::kSignature, FrameType::kOk}));
  ASSERT_EQ(signature().size(), 1u);
  EXPECT_EQ(signature().front().basis_size, 0u);
  EXPECT_TRUE(signature().front().blocks.empty());
  EXPECT_TRUE(holds("f.bin", fresh_));
  grant_hashing();  // the slot, when it comes, goes back at once
  EXPECT_EQ(conn_->hashing_slots, 0);
  EXPECT_EQ(sent_types().size(), 3u);
}

TEST_F(DeltaUploadMachine, EarlyWithoutTheReadRightOrABasisTheSignatureHasNoBlock) {
  conn_->delta_early_ = true;
  conn_->access_.rights = kAllRights & ~kRightRead;
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kSignature}));
  EXPECT_EQ(conn_->hashing_slots, 0) << "nothing to sign: no slot";
  EXPECT_FALSE(copy(0, 0, kBlock));
  EXPECT_EQ(upload_->frame_violation(), "without a signature sent for it");
  upload_->abort(ErrorCode::PROTOCOL, false);
  run();

  // No older copy at all: the signing runs and finds nothing.
  conn_->sent.clear();
  conn_->access_.rights = kAllRights;
  upload_.reset();
  start(put("new.bin", fresh_.size(), kPutDelta));
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kSignature}));
  ASSERT_EQ(signature().size(), 1u);
  EXPECT_TRUE(signature().front().blocks.empty());
  for (std::size_t at = 0; at < fresh_.size(); at += kBlock) EXPECT_TRUE(data_of(at, kBlock));
  EXPECT_TRUE(end_fresh());
  run();
  expect_ok();
  EXPECT_TRUE(holds("new.bin", fresh_));
}

TEST_F(DeltaUploadMachine, EarlyCancelWhileWaitingForTheSlotSendsNoSignature) {
  conn_->delta_early_ = true;
  conn_->hold_hashing = true;
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  EXPECT_TRUE(data_of(0, kBlock));
  upload_->abort(ErrorCode::CANCELLED, true);
  run();
  EXPECT_EQ(sent_types(), (std::vector<FrameType>{FrameType::kPutReady, FrameType::kError}));
  EXPECT_EQ(last_error(), ErrorCode::CANCELLED);
  grant_hashing();
  EXPECT_EQ(conn_->hashing_slots, 0);
  EXPECT_EQ(names(), std::set<std::string>{"f.bin"}) << "no temporary file may be left";
}

TEST_F(DeltaUploadMachine, ABigBasisIsSignedInTwoJobsWhenASecondSlotIsFree) {
  basis_ = test::pattern_bytes(kSignSplitAt + 3 * kBlock, 12);
  write_file("f.bin", basis_);
  fresh_ = basis_;
  for (bool early : {false, true}) {
    SCOPED_TRACE(early ? "DELTA_EARLY" : "signature first");
    conn_->delta_early_ = early;
    conn_->sent.clear();
    conn_->extra_hashing_taken = 0;
    upload_.reset();
    start(put("f.bin", fresh_.size(), kPutDelta));
    run();
    EXPECT_EQ(conn_->extra_hashing_taken, 1);
    EXPECT_EQ(signature(), signature_of(basis_));
    EXPECT_TRUE(copy(0, 0, basis_.size()));
    EXPECT_TRUE(end_fresh());
    run();
    expect_ok();
    EXPECT_EQ(conn_->hashing_slots, 0);
  }
  // No second slot free: one job signs both slices in turn.
  conn_->extra_hashing_free = false;
  conn_->sent.clear();
  upload_.reset();
  start(put("f.bin", fresh_.size(), kPutDelta));
  run();
  EXPECT_EQ(signature(), signature_of(basis_));
  EXPECT_TRUE(copy(0, 0, basis_.size()));
  EXPECT_TRUE(end_fresh());
  run();
  expect_ok();
  EXPECT_EQ(conn_->hashing_slots, 0);
  EXPECT_EQ(content("f.bin").size(), basis_.size());
}

}  // namespace
}  // namespace ft::server::unit
