// COMPRESS (docs/protocol.md 5.15) against a real ftserve: ftsend and ftget
// --compress move text and random files exactly (bytes on disk hashed),
// one way and the other, trees and keyed connections included; a server
// started with --no-compress leaves the bit out and the transfer is plain;
// and a raw client sending compressed DATA that lies (a bomb, a wrong
// size, a wrong hash, no COMPRESS agreed) gets the documented error while
// the server's memory stays put.
//
// That compression happened is shown by the wire, not the clock alone:
// under --bwlimit (which paces the bytes on the socket) 16 MiB of text
// would take at least 15.8 s plain and take a fraction of that compressed;
// a raw client checks the flag on the DATA frames a download sends.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>

#include "common/crypto/checksum.hpp"
#include "common/wire/chunk_compression.hpp"
#include "common/wire/messages.hpp"
#include "support/process_status.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1024 * 1024;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Log-like text of about `size` bytes (zstd -1 shrinks it several times).
void write_text_file(const fs::path& path, std::uint64_t size) {
  std::ofstream out(path, std::ios::binary);
  std::uint64_t written = 0;
  for (std::uint64_t line = 0; written < size; ++line) {
    const std::string text =
        "2026-12-06T12:" + std::to_string(line % 60) + ":" + std::to_string(line % 7919) +
        " INFO request " + std::to_string(line * 2654435761u % 100000) + " served /srv/data/file" +
        std::to_string(line % 977) + " in " + std::to_string(line % 13) + " ms\n";
    out << text;
    written += text.size();
  }
}

Bytes compressed_frame(const Bytes& chunk) {
  ChunkCompressor compressor(kDefaultCompressLevel);
  Bytes frame;
  EXPECT_TRUE(compressor.compress(chunk, frame));
  return frame;
}

class CompressTest : public ServerFixture {
 protected:
  RunResult tool(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), bin(name));
    return run(args, std::chrono::seconds(120));
  }
  std::string add_key(const fs::path& keys, const std::string& name) {
    RunResult added = run({bin("ftserve"), "keys", "add", name, "--keys", keys.string(), "--rights",
                           "list,read,create,overwrite"});
    EXPECT_EQ(added.exit_code, 0) << added.err;
    const fs::path key_file = work_ / (name + ".key");
    write_private(key_file, added.out);
    return key_file.string();
  }
  /// A raw client that agreed COMPRESS (or asked without it) and PUT
  /// `size` bytes as request 1: the server's PUT_READY read.
  std::unique_ptr<RawClient> raw_put(std::uint64_t size, bool offer = true) {
    auto client = std::make_unique<RawClient>(server_.port());
    EXPECT_TRUE(client->send_hello(offer ? kCapCompress : 0u));
    EXPECT_TRUE(client->read_hello());
    EXPECT_EQ((client->server_hello().capabilities & kCapCompress) != 0, offer);
    Bytes out;
    encode_put(out, 1, PutMsg{"bomb.txt", size, 0644, 0, limits::kDefaultChunkSize, 0, ""});
    client->send(out);
    EXPECT_EQ(reply_name(client->read_frame()), "PUT_READY");
    return client;
  }
  /// Sends one compressed DATA and reads the connection error it earns:
  /// its message, or "" when none came.
  std::string connection_error_for(RawClient& client, std::uint64_t chunk_hash,
                                   const Bytes& frame) {
    Bytes out;
    encode_compressed_data(out, 1, 0, chunk_hash, frame);
    client.send(out);
    auto error = client.read_connection_error();
    if (!error) return "";
    EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL)) << error->message;
    return error->message;
  }
};

TEST_F(CompressTest, FtsendCompressesTextOnTheWire) {
  start_server();
  const fs::path source = work_ / "log.txt";
  write_text_file(source, 16 * kMiB);
  const auto start = Clock::now();
  RunResult sent = tool("ftsend", {"--compress", "--bwlimit", "1M", source.string(), remote()});
  const double took = seconds_since(start);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(file_hash(root_.path() / "log.txt"), file_hash(source));
  std::printf("16 MiB of text at --bwlimit 1M, compressed: %.1f s\n", took);
  EXPECT_LT(took, 10.0) << "16 MiB at 1 MiB/s: the text did not travel compressed";
}

TEST_F(CompressTest, FtgetCompressedDownloadIsExact) {
  start_server({"--compress-level", "3"});
  write_text_file(root_.path() / "log.txt", 16 * kMiB);
  const auto start = Clock::now();
  RunResult got =
      tool("ftget", {"--compress", "--bwlimit", "1M", remote("log.txt"), (work_ / "got").string()});
  const double took = seconds_since(start);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "got/log.txt"), file_hash(root_.path() / "log.txt"));
  std::printf("16 MiB of text at --bwlimit 1M, compressed: %.1f s\n", took);
  EXPECT_LT(took, 10.0) << "16 MiB at 1 MiB/s: the text did not travel compressed";
}

TEST_F(CompressTest, SparseDownloadKeepsItsOrderAndHoles) {
  // ftserve compresses two chunks of a download at once and sends them in
  // file order; a hole (SPARSE) found meanwhile waits its turn among them.
  start_server();
  const fs::path text = work_ / "text.txt";
  write_text_file(text, 3 * kMiB);
  std::ifstream in(text, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  const fs::path sparse = root_.path() / "sparse.bin";
  {
    std::ofstream out(sparse, std::ios::binary);
    for (std::uint64_t at : {2 * kMiB, 9 * kMiB}) {
      out.seekp(static_cast<std::streamoff>(at));
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
  }
  fs::resize_file(sparse, 16 * kMiB);
  RunResult got = tool("ftget", {"--compress", remote("sparse.bin"), (work_ / "got").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "got/sparse.bin"), file_hash(sparse));
}

TEST_F(CompressTest, RandomDataAndLevelsGoBothWaysExactly) {
  start_server();
  const fs::path random = work_ / "random.bin";
  write_random_file(random, 5 * kMiB + 17, 41);
  const fs::path text = work_ / "small.txt";
  write_text_file(text, 3000);  // one small file: read whole by the server
  for (const char* level : {"-7", "1", "19"}) {
    RunResult sent = tool("ftsend", {"-q", "--compress-level", level, random.string(),
                                     text.string(), remote(std::string("up") + level + "/")});
    ASSERT_EQ(sent.exit_code, 0) << level << ": " << sent.err;
    EXPECT_EQ(file_hash(root_.path() / ("up" + std::string(level)) / "random.bin"),
              file_hash(random));
    EXPECT_EQ(file_hash(root_.path() / ("up" + std::string(level)) / "small.txt"), file_hash(text));
  }
  for (const char* name : {"random.bin", "small.txt"}) {
    RunResult got = tool("ftget", {"-q", "--compress", remote(std::string("up1/") + name),
                                   (work_ / "down").string()});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(file_hash(work_ / "down" / name), file_hash(work_ / name));
  }
}

TEST_F(CompressTest, MixedChunksCompressedSideBySideLandInOrder) {
  // ftsend compresses two chunks at once on threads of its own and queues
  // them in file order: text chunks (compressed, slow) between random ones
  // (sent as they are, fast) and files one after the other still land
  // byte for byte, with small chunks so that many are in flight.
  start_server();
  const fs::path text = work_ / "text.txt";
  const fs::path random = work_ / "random.bin";
  write_text_file(text, 12 * kMiB);
  write_random_file(random, 12 * kMiB, 5);
  std::ifstream text_in(text, std::ios::binary);
  const std::string text_bytes(std::istreambuf_iterator<char>(text_in), {});
  std::ifstream random_in(random, std::ios::binary);
  const std::string random_bytes(std::istreambuf_iterator<char>(random_in), {});
  const fs::path mixed = work_ / "mixed.bin";
  {
    // Runs of text and random whose lengths are not multiples of a chunk.
    std::ofstream out(mixed, std::ios::binary);
    std::size_t at = 0;
    for (std::size_t run = 0; at + 700000 <= text_bytes.size(); ++run) {
      const std::size_t length = 100000 + (run * 130003) % 600000;
      const std::string& from = run % 2 == 0 ? text_bytes : random_bytes;
      out.write(from.data() + at, static_cast<std::streamsize>(length));
      at += length;
    }
  }
  for (const char* chunk_size : {"64K", "1M"}) {
    const std::string into = std::string("mixed-") + chunk_size + "/";
    RunResult sent = tool("ftsend", {"-q", "--compress", "--chunk-size", chunk_size, mixed.string(),
                                     text.string(), random.string(), remote(into)});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    for (const fs::path& file : {mixed, text, random}) {
      EXPECT_EQ(file_hash(root_.path() / into / file.filename()), file_hash(file))
          << chunk_size << " " << file.filename();
    }
  }
}

TEST_F(CompressTest, TreesOverAKeyedConnection) {
  const fs::path keys = work_ / "keys";
  const std::string key_file = add_key(keys, "alice");
  start_server({"--keys", keys.string()});
  const fs::path tree = work_ / "tree";
  fs::create_directories(tree / "logs");
  write_text_file(tree / "logs/a.txt", 3 * kMiB + 5);
  write_text_file(tree / "b.txt", 100);
  write_random_file(tree / "logs/c.bin", 2 * kMiB, 7);
  RunResult sent =
      tool("ftsend", {"-r", "-q", "--compress", "--key-file", key_file, tree.string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  RunResult got = tool("ftget", {"-r", "-q", "--compress", "--key-file", key_file, remote("tree"),
                                 (work_ / "back").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  for (const char* name : {"logs/a.txt", "b.txt", "logs/c.bin"}) {
    EXPECT_EQ(file_hash(root_.path() / "tree" / name), file_hash(tree / name)) << name;
    EXPECT_EQ(file_hash(work_ / "back/tree" / name), file_hash(tree / name)) << name;
  }
}

TEST_F(CompressTest, ServerWithoutCompressGetsPlainData) {
  start_server({"--no-compress"});
  {
    RawClient client(server_.port());
    ASSERT_TRUE(client.send_hello(kCapCompress | kCapResume));
    ASSERT_TRUE(client.read_hello());
    EXPECT_EQ(client.server_hello().capabilities & kCapCompress, 0u);
  }
  const fs::path source = work_ / "log.txt";
  write_text_file(source, 2 * kMiB);
  RunResult sent = tool("ftsend", {"-q", "--compress", source.string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  RunResult got = tool("ftget", {"-q", "--compress", remote("log.txt"), (work_ / "got").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "got/log.txt"), file_hash(source));
}

TEST_F(CompressTest, DownloadsFlagCompressedChunksAndSendRandomOnesPlain) {
  start_server();
  write_text_file(root_.path() / "log.txt", 3 * kMiB);
  write_random_file(root_.path() / "random.bin", 2 * kMiB, 3);
  RawClient client(server_.port());
  ASSERT_TRUE(client.send_hello(kCapCompress));
  ASSERT_TRUE(client.read_hello());
  ASSERT_NE(client.server_hello().capabilities & kCapCompress, 0u);
  ChunkDecompressor decompressor;
  std::uint32_t id = 1;
  for (const char* name : {"log.txt", "random.bin"}) {
    const bool text = std::string(name) == "log.txt";
    Bytes out;
    encode_get(out, id, GetMsg{name, 0});
    client.send(out);
    auto ready = client.read_frame();
    ASSERT_TRUE(ready && ready->header.type == FrameType::kGetReady) << reply_name(ready);
    StreamHash128 hash;
    int compressed_chunks = 0;
    for (;;) {
      auto frame = client.read_frame();
      ASSERT_TRUE(frame.has_value());
      if (frame->header.type == FrameType::kEnd) break;
      ASSERT_EQ(frame->header.type, FrameType::kData) << reply_name(frame);
      auto data = decode_data(frame->payload, frame->header.flags);
      ASSERT_TRUE(data.has_value());
      // Text chunks shrink (a short last one may not); random ones never.
      if (!text) {
        EXPECT_FALSE(data->compressed);
      }
      compressed_chunks += data->compressed ? 1 : 0;
      Bytes plain(data->bytes.begin(), data->bytes.end());
      if (data->compressed) {
        auto declared = ChunkDecompressor::declared_size(data->bytes);
        ASSERT_TRUE(declared.has_value());
        EXPECT_LT(data->bytes.size(), *declared / 2) << "text shrinks well below half";
        plain.resize(*declared);
        ASSERT_EQ(decompressor.decompress(data->bytes, plain), "");
      }
      EXPECT_EQ(hash64(plain), data->chunk_hash);
      hash.update(plain);
    }
    EXPECT_EQ(hash.digest().hex(), file_hash(root_.path() / name));
    if (text) {
      EXPECT_GE(compressed_chunks, 3);
    }
    ++id;
  }
}

TEST_F(CompressTest, HostileCompressedDataGetsTheDocumentedErrors) {
  start_server();
  const long before_kib = status_kib(server_.pid(), "VmHWM");
  const Bytes text(64 * 1024, 'a');
  // A bomb: a frame of a few KiB declaring 4 GiB, refused by its header
  // alone, many times over.
  const Bytes big_text(limits::kMaxChunkSize, 'a');
  Bytes bomb = compressed_frame(big_text);
  {
    // Declaring 4 MiB, over the PUT's 1 MiB chunk size.
    for (int i = 0; i < 20; ++i) {
      auto client = raw_put(limits::kMaxChunkSize);
      EXPECT_NE(connection_error_for(*client, hash64(big_text), bomb)
                    .find("longer than the chunk size: 4194304"),
                std::string::npos);
    }
  }
  {
    // Declared 64 KiB, but the PUT is of 100 bytes.
    auto client = raw_put(100);
    EXPECT_NE(connection_error_for(*client, hash64(text), compressed_frame(text))
                  .find("past the declared size: 65536"),
              std::string::npos);
  }
  {
    // A frame that gives more bytes than its header declares: the declared
    // size is patched from 1 MiB + 1 down to 1 MiB (the same 4-byte field).
    Bytes longer(kMiB + 1, 'a');
    Bytes frame = compressed_frame(longer);
    // Frame header: magic (4), descriptor (1), window byte unless single
    // segment, then the content size, little-endian.
    ASSERT_EQ(frame[4] & 0xC3, 0x80);  // a 4-byte content size, no dictionary
    const std::size_t at = 5 + ((frame[4] & 0x20) != 0 ? 0 : 1);
    const std::uint32_t declared = static_cast<std::uint32_t>(kMiB);
    std::memcpy(frame.data() + at, &declared, 4);  // a little-endian host
    ASSERT_EQ(ChunkDecompressor::declared_size(frame), kMiB);
    auto client = raw_put(kMiB);
    EXPECT_NE(connection_error_for(*client, hash64(longer), frame).find("does not decompress"),
              std::string::npos);
  }
  {
    // Not a zstd frame at all.
    auto client = raw_put(100);
    EXPECT_NE(connection_error_for(*client, 0, Bytes(40, 0x11)).find("does not declare its size"),
              std::string::npos);
  }
  {
    // COMPRESSED on a connection that did not agree COMPRESS.
    auto client = raw_put(text.size(), false);
    EXPECT_NE(connection_error_for(*client, hash64(text), compressed_frame(text))
                  .find("compressed without COMPRESS"),
              std::string::npos);
  }
  {
    // A frame that decompresses, to bytes other than the chunk hash says:
    // the request fails (no RESUME here, so no rewind), the connection stays.
    auto client = raw_put(text.size());
    Bytes out;
    encode_compressed_data(out, 1, 0, hash64(text) ^ 1, compressed_frame(text));
    client->send(out);
    EXPECT_EQ(reply_name(client->read_frame()), "CHECKSUM_MISMATCH");
    EXPECT_EQ(get_file(*client, 2, "bomb.txt"), "ERROR:NOT_FOUND");
  }
  EXPECT_FALSE(fs::exists(root_.path() / "bomb.txt"));
  const long after_kib = status_kib(server_.pid(), "VmHWM");
  std::printf("ftserve VmHWM %ld KiB before, %ld KiB after the compressed bombs\n", before_kib,
              after_kib);
  EXPECT_LT(after_kib - before_kib, 32 * 1024) << "the bombs grew the server's peak memory";
}

TEST_F(CompressTest, BadLevelIsAUsageError) {
  start_server();
  const fs::path source = work_ / "a.txt";
  write_text_file(source, 10);
  for (const char* bad : {"20", "-8", "fast", "1.5"}) {
    RunResult sent =
        tool("ftsend", {std::string("--compress-level=") + bad, source.string(), remote()});
    EXPECT_EQ(sent.exit_code, 2) << bad;
    EXPECT_NE(sent.err.find("--compress-level"), std::string::npos) << sent.err;
  }
  RunResult server =
      run({bin("ftserve"), "--root", work_.path().string(), "--compress-level", "42"});
  EXPECT_EQ(server.exit_code, 2) << server.err;
  EXPECT_NE(server.err.find("--compress-level"), std::string::npos) << server.err;
}

}  // namespace
}  // namespace ft::testing
