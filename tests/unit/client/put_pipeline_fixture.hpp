#pragma once
// The server's side of one client Session, played in the test process, for
// the PutPipeline tests. The Session runs over one end of a socketpair()
// (Connection::adopt); the fixture writes the server's hello into the other
// end, reads back and decodes every frame the client queued, and hands the
// pipeline the server's replies through on_frame(), as Session::run() would.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "client/net/session.hpp"
#include "client/report/transfer_report.hpp"
#include "client/transfer/put_pipeline.hpp"
#include "common/os/fd.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft::test {

inline constexpr std::uint32_t kChunk = limits::kMinChunkSize;  // 4096
inline constexpr std::int64_t kMtimeNs = 1'500'000'000'987'654'321;

/// Recognisable bytes, different in every chunk.
Bytes content_of(std::size_t size, unsigned seed = 1);
Hash128 hash_of_prefix(const Bytes& content, std::size_t length);

/// A frame as a short line: "PUT 1 a", "DATA 1 @4096+4096", "END 1 10000",
/// "COPY 1 @0+4096 from 8192", "CANCEL 1", "GET 3 up/a @16384".
std::string describe(const Frame& frame);
std::vector<std::string> describe(const std::vector<Frame>& frames);

/// Checks every DATA and END of `id` in `frames` against `content`: the
/// bytes at their offset, the chunk hash, the size and whole-file hash.
void expect_faithful(const std::vector<Frame>& frames, std::uint32_t id, const Bytes& content);

/// Records the items the pipeline settles, in order.
class SettledLog : public client::PutPipeline::Listener {
 public:
  void on_settled(client::Session&, client::UploadItem& item) override { settled.push_back(&item); }
  std::vector<client::UploadItem*> settled;
};

class PutPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Opens the session as a server with `capabilities` would answer it,
  /// and a pipeline on it with `chunk_size`.
  void connect(std::uint32_t capabilities, std::uint32_t chunk_size = kChunk);
  /// Writes a source file with `content`, mode 0640 and kMtimeNs.
  std::string make_source(const std::string& name, const Bytes& content);
  /// An item for a source `name` holding `content`, sent as "up/<name>".
  client::UploadItem& add_item(const std::string& name, const Bytes& content);

  void start(client::UploadItem& item) { pipeline_->start(*session_, item); }
  void pump() { pipeline_->pump(*session_); }
  /// Hands an encoded server frame to the pipeline.
  void deliver(const Bytes& encoded);
  void put_ready(const client::UploadItem& item, std::uint64_t offset,
                 std::optional<Hash128> prefix = std::nullopt);
  void ok(const client::UploadItem& item);
  void error(const client::UploadItem& item, ErrorCode code, std::string path = {},
             std::string message = {});

  /// The connection-level failure the session holds, if any.
  std::optional<Error> session_failure();
  /// Writes out everything the session queued and returns the frames the
  /// server's side decodes from it, in wire order.
  std::vector<Frame> wire();

  std::filesystem::path dir_;
  client::TransferReport report_{
      client::ReportOptions{.program = "ftsend", .verbosity = client::Verbosity::kQuiet}};
  SettledLog log_;
  std::uint32_t next_id_ = 1;
  client::UploadSettings settings_;
  std::optional<client::Session> session_;
  std::optional<client::PutPipeline> pipeline_;
  std::deque<client::UploadItem> items_;  // addresses stay put while in flight

 private:
  /// Decodes what the peer socket holds into `frames`; true if any byte came.
  bool read_peer(std::vector<Frame>& frames);

  Fd peer_;
  FrameDecoder from_client_{FrameDecoder::Options{.sender = Sender::kClient, .expect_hello = true}};
  bool client_hello_seen_ = false;
};

}  // namespace ft::test
