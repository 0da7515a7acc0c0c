// ftserve's side of resumable uploads (docs/protocol.md, section 5.4),
// driven frame by frame: partial data kept across a lost connection and
// offered with its prefix hash, restarts, rewinds, BUSY, and removal.
#include <map>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint32_t kChunk = 64 * 1024;

class PartialUpload : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    write_random_file(work_ / "src", 10 * kChunk + 123, 42);
    content_ = read_file(work_ / "src");
    put_ = PutMsg{"dir/file.bin", content_.size(), 0644,      1700000000000000000,
                  kChunk,         kPutResumable,   "host:1:2"};
  }
  std::unique_ptr<RawClient> connect(std::uint32_t capabilities = kCapResume) {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(capabilities);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  ByteSpan bytes(std::uint64_t from, std::uint64_t to) const {
    return ByteSpan(reinterpret_cast<const std::uint8_t*>(content_.data()) + from, to - from);
  }
  Bytes data(std::uint32_t id, std::uint64_t from) const {
    Bytes out;
    encode_data(out, id, from,
                bytes(from, std::min<std::uint64_t>(from + kChunk, content_.size())));
    return out;
  }
  void send_from(RawClient& client, std::uint32_t id, std::uint64_t from) {
    Bytes out;
    for (std::uint64_t at = from; at < content_.size(); at += kChunk) {
      Bytes one = data(id, at);
      out.insert(out.end(), one.begin(), one.end());
    }
    encode_end(out, id, EndMsg{content_.size(), hash128(bytes(0, content_.size()))});
    client.send(out);
  }
  std::optional<PutReadyMsg> put(RawClient& client, std::uint32_t id) {
    Bytes out;
    encode_put(out, id, put_);
    client.send(out);
    auto frame = client.read_frame();
    if (!frame || frame->header.type != FrameType::kPutReady) return std::nullopt;
    return decode_put_ready(frame->payload, true);
  }
  fs::path partial_path() const { return root_.path() / "dir" / partial_file_name(put_); }
  // Waits (bounded, by round trips) until the server has noticed a closed
  // connection and kept the partial data of `length` bytes.
  bool partial_reaches(std::uint64_t length) {
    for (int i = 0; i < 500; ++i) {
      std::error_code ec;
      if (fs::file_size(partial_path(), ec) == length && !ec) {
        // Also wait for the claim to be released: a PUT must not get BUSY.
        auto probe = connect();
        Bytes stat;
        encode_stat(stat, 1, PathMsg{""});
        probe->send(stat);
        probe->read_frame();
        return true;
      }
      auto probe = connect();
      Bytes stat;
      encode_stat(stat, 1, PathMsg{""});
      probe->send(stat);
      probe->read_frame();
    }
    return false;
  }

  std::string content_;
  PutMsg put_;
};

TEST_F(PartialUpload, LostConnectionKeepsPartialDataAndTheNextPutResumesFromIt) {
  {
    auto client = connect();
    auto ready = put(*client, 1);
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->offset, 0u);
    ASSERT_TRUE(ready->prefix_hash);
    EXPECT_EQ(*ready->prefix_hash, hash128({}));
    Bytes out;
    for (std::uint64_t at = 0; at < 4 * kChunk; at += kChunk) {
      Bytes one = data(1, at);
      out.insert(out.end(), one.begin(), one.end());
    }
    client->send(out);
  }
  ASSERT_TRUE(partial_reaches(4 * kChunk));
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dir", "dir/" + partial_file_name(put_)}));

  auto client = connect();
  auto ready = put(*client, 7);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->offset, 4 * kChunk);
  EXPECT_EQ(*ready->prefix_hash, hash128(bytes(0, 4 * kChunk)));
  send_from(*client, 7, ready->offset);
  auto ok = client->read_frame();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, FrameType::kOk);
  EXPECT_EQ(read_file(root_.path() / "dir/file.bin"), content_);
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dir", "dir/file.bin"}));
}

TEST_F(PartialUpload, ClientMayRestartFromZeroWhenThePrefixDiffers) {
  {
    auto client = connect();
    ASSERT_TRUE(put(*client, 1));
    Bytes out = data(1, 0);
    client->send(out);
  }
  ASSERT_TRUE(partial_reaches(kChunk));
  auto client = connect();
  auto ready = put(*client, 2);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->offset, kChunk);
  send_from(*client, 2, 0);
  auto ok = client->read_frame();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, FrameType::kOk);
  EXPECT_EQ(read_file(root_.path() / "dir/file.bin"), content_);
}

TEST_F(PartialUpload, BadChunkIsRewoundAndTheUploadSucceeds) {
  auto client = connect();
  ASSERT_TRUE(put(*client, 3));
  Bytes out;
  for (std::uint64_t at = 0; at < content_.size(); at += kChunk) {
    Bytes one = data(3, at);
    if (at == 2 * kChunk) one[kDataHeadSize + 5] ^= 0x01;  // corrupt chunk 2
    out.insert(out.end(), one.begin(), one.end());
  }
  encode_end(out, 3, EndMsg{content_.size(), hash128(bytes(0, content_.size()))});
  client->send(out);  // everything, END included, before seeing the rewind
  auto rewind = client->read_frame();
  ASSERT_TRUE(rewind);
  ASSERT_EQ(rewind->header.type, FrameType::kPutReady);
  auto ready = decode_put_ready(rewind->payload, true);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->offset, 2 * kChunk);
  EXPECT_EQ(*ready->prefix_hash, hash128(bytes(0, 2 * kChunk)));
  send_from(*client, 3, 2 * kChunk);
  auto ok = client->read_frame();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, FrameType::kOk);
  EXPECT_EQ(read_file(root_.path() / "dir/file.bin"), content_);
}

TEST_F(PartialUpload, PersistentBadChunkFailsAfterThreeRewindsAndRemovesThePartial) {
  auto client = connect();
  ASSERT_TRUE(put(*client, 4));
  Bytes good = data(4, 0);
  client->send(good);
  for (int attempt = 0; attempt <= limits::kMaxRewinds; ++attempt) {
    Bytes bad = data(4, kChunk);
    bad[kDataHeadSize] ^= 0x80;
    client->send(bad);
    auto reply = client->read_frame();
    ASSERT_TRUE(reply);
    if (attempt < limits::kMaxRewinds) {
      ASSERT_EQ(reply->header.type, FrameType::kPutReady) << attempt;
    } else {
      ASSERT_EQ(reply->header.type, FrameType::kError);
      auto error = decode_error(reply->payload);
      ASSERT_TRUE(error);
      EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::CHECKSUM_MISMATCH));
    }
  }
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dir"}));
}

TEST_F(PartialUpload, SecondUploadOfTheSameSourceIsBusy) {
  auto first = connect();
  ASSERT_TRUE(put(*first, 1));
  auto second = connect();
  Bytes out;
  encode_put(out, 1, put_);
  second->send(out);
  auto reply = second->read_frame();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->header.type, FrameType::kError);
  auto error = decode_error(reply->payload);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::BUSY));
  // The first upload is unaffected.
  send_from(*first, 1, 0);
  auto ok = first->read_frame();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, FrameType::kOk);
}

TEST_F(PartialUpload, CancelRemovesThePartialData) {
  auto client = connect();
  ASSERT_TRUE(put(*client, 1));
  Bytes out = data(1, 0);
  encode_cancel(out, 1);
  client->send(out);
  auto reply = client->read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header.type, FrameType::kError);
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dir"}));
}

TEST_F(PartialUpload, ResumableFlagWithoutTheCapabilityIsRefused) {
  auto client = connect(0);
  Bytes out;
  encode_put(out, 1, put_);
  client->send(out);
  auto reply = client->read_frame();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->header.type, FrameType::kError);
  auto error = decode_error(reply->payload);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
  EXPECT_TRUE(root_names().empty());
}

}  // namespace
}  // namespace ft::testing

namespace ft::testing {
namespace {

// Eager uploads (protocol 5.6): PUT, DATA and END in one go, no PUT_READY.
class EagerUpload : public ServerTest {
 protected:
  std::unique_ptr<RawClient> connect() {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(kCapEager | kCapResume);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  Bytes eager(std::uint32_t id, const std::string& path, const std::string& content,
              bool corrupt = false) {
    Bytes out;
    encode_put(out, id,
               PutMsg{path, content.size(), 0640, 1600000000000000000, 4096, kPutEager, ""});
    ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(content.data()), content.size());
    if (!content.empty()) {
      std::size_t at = out.size();
      encode_data(out, id, 0, bytes);
      if (corrupt) out[at + kDataHeadSize] ^= 0x01;
    }
    encode_end(out, id, EndMsg{content.size(), hash128(bytes)});
    return out;
  }
};

TEST_F(EagerUpload, ManyFilesInOneBurstAreAllCommittedWithoutPutReady) {
  auto client = connect();
  Bytes burst;
  for (std::uint32_t id = 1; id <= 50; ++id) {
    Bytes one = eager(id, "e/f" + std::to_string(id), std::string(id * 10, char('a' + id % 26)));
    burst.insert(burst.end(), one.begin(), one.end());
  }
  client->send(burst);
  for (int i = 0; i < 50; ++i) {
    auto reply = client->read_frame();
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->header.type, FrameType::kOk)
        << frame_type_name(std::uint8_t(reply->header.type));
  }
  for (std::uint32_t id = 1; id <= 50; ++id) {
    EXPECT_EQ(read_file(root_.path() / "e" / ("f" + std::to_string(id))),
              std::string(id * 10, char('a' + id % 26)));
  }
}

TEST_F(EagerUpload, BadChunkFailsWithoutRewindAndRefusedPathsDiscardTheirData) {
  auto client = connect();
  Bytes out = eager(1, "bad", "corrupted content", true);
  Bytes refused = eager(2, "../escape", "never written");
  Bytes good = eager(3, "good", "fine");
  out.insert(out.end(), refused.begin(), refused.end());
  out.insert(out.end(), good.begin(), good.end());
  client->send(out);
  std::map<std::uint32_t, int> codes;
  for (int i = 0; i < 3; ++i) {
    auto reply = client->read_frame();
    ASSERT_TRUE(reply);
    ASSERT_NE(reply->header.type, FrameType::kPutReady);
    int code = 0;
    if (auto error = decode_error(reply->payload)) code = error->code;
    codes[reply->header.request_id] = code;
  }
  EXPECT_EQ(codes[1], static_cast<int>(ErrorCode::CHECKSUM_MISMATCH));
  EXPECT_EQ(codes[2], static_cast<int>(ErrorCode::BAD_PATH));
  EXPECT_EQ(codes[3], 0);
  EXPECT_EQ(root_names(), (std::vector<std::string>{"good"}));
}

TEST_F(EagerUpload, EagerWithoutTheCapabilityIsRefused) {
  auto client = std::make_unique<RawClient>(server_.port());
  client->send_hello(0);
  ASSERT_TRUE(client->read_hello());
  Bytes put;
  encode_put(put, 1, PutMsg{"f", 1, 0644, 0, 4096, kPutEager, ""});
  client->send(put);
  auto reply = client->read_frame();
  ASSERT_TRUE(reply);
  auto error = decode_error(reply->payload);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL));
}

}  // namespace
}  // namespace ft::testing
