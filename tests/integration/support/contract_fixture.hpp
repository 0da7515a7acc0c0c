#pragma once
// The fixture of the protocol contract tests (issue 11): a real ftserve and
// raw connections that check each rule of docs/protocol.md frame by frame.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/crypto/checksum.hpp"
#include "raw_client.hpp"
#include "server_fixture.hpp"

namespace ft::testing {

inline ByteSpan span_of(const std::string& text) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

/// Frames sent together, in one write.
inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// The helpers, over a server each test starts with its own flags.
class ContractFixture : public ServerFixture {
 protected:
  /// A connection whose hello offered `capabilities` and got the server's.
  std::unique_ptr<RawClient> connect(std::uint32_t capabilities = 0) {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(capabilities);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  static Bytes put(std::uint32_t id, const std::string& path, std::uint64_t size,
                   std::uint32_t flags = 0, std::string source_id = "") {
    Bytes out;
    encode_put(out, id,
               PutMsg{path, size, 0644, 1700000000000000000, limits::kMinChunkSize, flags,
                      std::move(source_id)});
    return out;
  }
  static Bytes data(std::uint32_t id, std::uint64_t offset, const std::string& bytes) {
    Bytes out;
    encode_data(out, id, offset, span_of(bytes));
    return out;
  }
  static Bytes end(std::uint32_t id, const std::string& content) {
    Bytes out;
    encode_end(out, id, EndMsg{content.size(), hash128(span_of(content))});
    return out;
  }
  /// Sends `bytes` and returns the next frame (a fatal failure if none).
  static Frame exchange(RawClient& client, const Bytes& bytes) {
    client.send(bytes);
    auto frame = client.read_frame();
    if (!frame) {
      ADD_FAILURE() << "no reply";
      return Frame{};
    }
    return std::move(*frame);
  }
  /// Empty when `frame` is ERROR(id, code), else what it is instead.
  static std::string error_check(const Frame& frame, std::uint32_t id, ErrorCode code) {
    if (frame.header.type != FrameType::kError) {
      return "a " + frame_type_name(std::uint8_t(frame.header.type)) + " frame";
    }
    if (frame.header.request_id != id)
      return "request id " + std::to_string(frame.header.request_id);
    auto error = decode_error(frame.payload);
    if (!error) return "a malformed ERROR";
    if (error->code != static_cast<std::uint16_t>(code)) {
      return "code " + to_string(static_cast<ErrorCode>(error->code)) + ": " + error->message;
    }
    return "";
  }
  /// The message of the ERROR(0) the connection ends with; "" (and a test
  /// failure) if it is not ERROR(0, code) followed by the close.
  static std::string connection_error(RawClient& client, ErrorCode code = ErrorCode::PROTOCOL) {
    for (int frames = 0; frames < 32; ++frames) {
      auto frame = client.read_frame();
      if (!frame) break;
      if (frame->header.request_id != 0) continue;  // replies queued before it
      EXPECT_EQ(error_check(*frame, 0, code), "");
      EXPECT_TRUE(client.closed_by_peer()) << "ERROR(0) but the connection stays open";
      auto error = decode_error(frame->payload);
      return error ? error->message : "";
    }
    ADD_FAILURE() << "no ERROR(0) before the close";
    return "";
  }
  /// True if the connection still serves requests: a STAT of the root.
  static bool still_serves(RawClient& client, std::uint32_t id = 999) {
    Bytes stat;
    encode_stat(stat, id, PathMsg{""});
    client.send(stat);
    for (int frames = 0; frames < 16; ++frames) {
      auto frame = client.read_frame();
      if (!frame) return false;
      if (frame->header.request_id == id) return frame->header.type == FrameType::kEntries;
    }
    return false;
  }
};

/// ContractFixture with the server started without extra flags.
class ContractTest : public ContractFixture {
 protected:
  void SetUp() override { start_server(); }
};

}  // namespace ft::testing
