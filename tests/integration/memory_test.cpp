// ftserve's memory against peers that make it hold data (docs/server.md,
// "Memory"): eager uploads that never end, listings nobody reads, DATA
// headers whose payload never comes, and all of them at once against the
// documented bound while a normal client is still served. Raw sockets on
// loopback; the bounds are for a Release build (scripts/test runs these
// there), a sanitized build only checks that nothing grows without bound.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <thread>

#include "common/base/limits.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"
#include "support/harness.hpp"
#include "support/measured_run.hpp"
#include "support/process_status.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// docs/server.md, "Memory": ftserve's peak with the default flags, and
// with --keys (24 MiB + 64 MiB + 1,000 x 168 KiB, also under 256 MiB).
constexpr long kDocumentedBoundMib = 256;
constexpr long kDocumentedKeysBoundMib = 24 + 64 + 1000 * 168 / 1024;

// A bound in KiB: `release_mib` on a normal build. ASan's shadow memory,
// redzones and quarantine multiply the footprint of a sanitized build, which
// then only shows that nothing grows with what peers send.
long bound_kib(long release_mib) {
  return (kSanitized ? std::max(6 * release_mib, 768L) : release_mib) * 1024;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Connection `i` of many comes from its own loopback address, 25 to an
// address (the cap on unauthenticated connections per address is 32).
RawClientOptions source_for(std::size_t i) {
  return RawClientOptions{
      .source_address = "127.0.0." + std::to_string(2 + i / 25), .no_delay = true, .tls = nullptr};
}

Bytes hello_bytes(std::uint32_t capabilities = 0) {
  Bytes out;
  encode_hello(out, Hello{kProtocolVersion, kProtocolVersion, capabilities});
  return out;
}

// An eager PUT of `size` bytes in one chunk, and its DATA, without END.
void append_eager_put_without_end(Bytes& out, std::uint32_t id, const std::string& path,
                                  std::size_t size) {
  PutMsg put;
  put.path = path;
  put.size = size;
  put.chunk_size = static_cast<std::uint32_t>(size);
  put.put_flags = kPutEager;
  encode_put(out, id, put);
  encode_data(out, id, 0, Bytes(size, 0x65));
}

// A DATA header declaring the largest payload, and not one byte of it.
void append_bare_data_header(Bytes& out, std::uint32_t id) {
  encode_header(out, FrameHeader{FrameType::kData, 0, id, limits::kMaxDataPayload});
}

// A directory of `count` empty files with 60-byte names.
void make_big_directory(const fs::path& dir, int count) {
  fs::create_directory(dir);
  for (int i = 0; i < count; ++i) {
    std::string name = std::to_string(i);
    name.insert(0, 60 - name.size(), 'n');
    int fd = ::open((dir / name).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << name;
    ::close(fd);
  }
}

// Waits until ftserve used no CPU for half a second (it did what the
// peers' bytes asked), at most `deadline`.
void wait_until_idle(pid_t pid, std::chrono::seconds deadline) {
  const auto until = Clock::now() + deadline;
  double before = cpu_seconds(pid);
  while (Clock::now() < until) {
    std::this_thread::sleep_for(500ms);
    const double now = cpu_seconds(pid);
    if (now - before < 0.01) return;
    before = now;
  }
}

// Creates a `size`-byte sparse file at a path of about 4 KiB below `root`
// (15 directories of 250 bytes, then the file), which is returned.
std::string make_file_at_long_path(const fs::path& root, off_t size) {
  std::string relative;
  int dir = ::open(root.c_str(), O_DIRECTORY | O_RDONLY);
  EXPECT_GE(dir, 0);
  for (int level = 0; level < 15; ++level) {
    std::string name(250, static_cast<char>('a' + level));
    ::mkdirat(dir, name.c_str(), 0755);
    int next = ::openat(dir, name.c_str(), O_DIRECTORY | O_RDONLY);
    EXPECT_GE(next, 0);
    ::close(dir);
    dir = next;
    relative += name + "/";
  }
  const std::string file(200, 'f');
  int fd = ::openat(dir, file.c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
  ::close(dir);
  return relative + file;
}

class MemoryTest : public ServerFixture {
 protected:
  // ftsend then ftget of a small file (it fits the allowance every
  // connection has whatever the others hold); returns the seconds both took.
  // `key_flag`: --key-file FILE for a --keys server, or nothing.
  double small_round_trip(const std::string& name, const std::vector<std::string>& key_flag = {}) {
    write_random_file(work_ / name, 16 * 1024, 11);
    auto started = Clock::now();
    std::vector<std::string> send = {bin("ftsend")};
    send.insert(send.end(), key_flag.begin(), key_flag.end());
    send.insert(send.end(), {(work_ / name).string(), remote("in/")});
    RunResult put = run(send, 60s);
    EXPECT_EQ(put.exit_code, 0) << put.err;
    std::vector<std::string> get_argv = {bin("ftget")};
    get_argv.insert(get_argv.end(), key_flag.begin(), key_flag.end());
    get_argv.insert(get_argv.end(), {remote("in/" + name), (work_ / "back").string()});
    RunResult get = run(get_argv, 60s);
    EXPECT_EQ(get.exit_code, 0) << get.err;
    const double seconds = seconds_since(started);
    EXPECT_EQ(file_hash(work_ / "back" / name), file_hash(work_ / name));
    return seconds;
  }

  void abuse_mix(const std::string& keys_file, const std::string& client_key, long bound_mib);

  long report_hwm(const char* what) {
    const long hwm_kib = status_kib(server_.pid(), "VmHWM");
    const long rss_kib = status_kib(server_.pid(), "VmRSS");
    std::printf("ftserve, %s: VmHWM %ld KiB, VmRSS %ld KiB\n", what, hwm_kib, rss_kib);
    EXPECT_GT(hwm_kib, 0);
    return hwm_kib;
  }
};

TEST_F(MemoryTest, EagerPutsWithoutEndAreClosedAtTheIdleTimeout) {
  // 100 connections, each with four eager PUTs of one 1 MiB chunk whose
  // DATA came and whose END never comes: queued data is no progress, so
  // every one is closed at the idle timeout and its memory freed.
  raise_own_descriptor_limit();
  start_server({"--idle-timeout", "2s"});
  std::deque<RawClient> clients;
  for (std::size_t i = 0; i < 100; ++i) {
    clients.emplace_back(server_.port(), source_for(i));
    ASSERT_TRUE(clients.back().connected()) << i;
    Bytes out = hello_bytes(kCapEager);
    for (std::uint32_t id = 1; id <= 4; ++id) {
      append_eager_put_without_end(out, id, "e" + std::to_string(i) + "-" + std::to_string(id),
                                   1 << 20);
    }
    clients.back().send_nonblocking(out, 0ms);
  }
  const auto deadline = Clock::now() + 30s;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    EXPECT_TRUE(clients[i].closed_by_peer(std::max(left, 1ms))) << "connection " << i;
  }
  const long hwm_kib = report_hwm("100 eager uploads without END");
  EXPECT_LT(hwm_kib, bound_kib(160));
  server_.collect_output();
  EXPECT_NE(server_.err().find("no progress for"), std::string::npos);
  EXPECT_TRUE(root_names().empty());
}

TEST_F(MemoryTest, EagerPutOfMoreThanOneChunkIsRefused) {
  // An eager PUT declaring 64 MiB in chunks of 4 MiB: its data would wait in
  // memory for an END. It is refused for that id, its DATA discarded, and
  // the connection serves on.
  start_server();
  RawClient client(server_.port());
  Bytes out = hello_bytes(kCapEager);
  PutMsg put;
  put.path = "big";
  put.size = 64ull << 20;
  put.chunk_size = limits::kMaxChunkSize;
  put.put_flags = kPutEager;
  encode_put(out, 1, put);
  encode_data(out, 1, 0, Bytes(limits::kMaxChunkSize, 0x61));
  ASSERT_TRUE(client.send(out));
  ASSERT_TRUE(client.read_hello());
  auto reply = client.read_frame();
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->header.type, FrameType::kError);
  auto error = decode_error(reply->payload);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, static_cast<std::uint16_t>(ErrorCode::PROTOCOL)) << error->message;
  EXPECT_EQ(reply->header.request_id, 1u);
  Bytes stat;
  encode_stat(stat, 2, PathMsg{""});
  ASSERT_TRUE(client.send(stat));
  auto entries = client.read_frame();
  ASSERT_TRUE(entries.has_value());
  EXPECT_EQ(entries->header.type, FrameType::kEntries);
  EXPECT_TRUE(root_names().empty());
}

TEST_F(MemoryTest, UnreadListStormKeepsMemoryBounded) {
  // One connection sends 1,024 LISTs of a 5,000-entry directory and never
  // reads: listings wait while its send queue is over its mark, and each
  // goes out in pages, so ftserve holds a few listings, not 1,024 replies.
  ASSERT_NO_FATAL_FAILURE(make_big_directory(root_.path() / "big", 5000));
  start_server();
  RawClient storm(server_.port(),
                  RawClientOptions{.source_address = "", .no_delay = true, .tls = nullptr});
  Bytes burst = hello_bytes();
  for (std::uint32_t id = 1; id <= 1024; ++id) encode_list(burst, id, PathMsg{"big"});
  storm.send_nonblocking(burst);
  // Another client lists the same directory meanwhile.
  RunResult ls = run({bin("ftls"), remote("big")}, 60s);
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), 5000);
  wait_until_idle(server_.pid(), 60s);
  const long hwm_kib = report_hwm("1,024 unread LISTs of 5,000 entries");
  EXPECT_LT(hwm_kib, bound_kib(96));
}

TEST_F(MemoryTest, DataHeadersWithoutTheirPayloadCostLittle) {
  // 300 connections each send a DATA header declaring 4 MiB and nothing
  // more: the payload is taken in as it arrives, so a header costs nothing
  // like its declared length.
  raise_own_descriptor_limit();
  start_server();
  std::deque<RawClient> clients;
  for (std::size_t i = 0; i < 300; ++i) {
    clients.emplace_back(server_.port(), source_for(i));
    RawClient& c = clients.back();
    Bytes out = hello_bytes();
    append_bare_data_header(out, 1);
    ASSERT_TRUE(c.send(out)) << i;
    ASSERT_TRUE(c.read_hello()) << i;
  }
  EXPECT_LT(small_round_trip("normal.bin"), kSanitized ? 10.0 : 1.0);
  const long hwm_kib = report_hwm("300 DATA headers of 4 MiB");
  EXPECT_LT(hwm_kib, bound_kib(64));
}

// The worst mixes at once, 1,000 connections (the default --max-connections,
// the normal client's among them): DATA headers declaring 4 MiB, eager PUTs
// without END, unread LIST storms, unread downloads, requests at the
// in-flight cap with 4 KiB paths, and hellos (open) or TLS handshakes
// (--keys) cut short. ftserve stays under `bound_mib`, and a normal client
// is served within a second. `client_key` empty: an open server; else the
// text of a key with list,read,create rights on a --keys server
// (`keys_file`), every connection but the cut-short ones authenticated.
void MemoryTest::abuse_mix(const std::string& keys_file, const std::string& client_key,
                           long bound_mib) {
  raise_own_descriptor_limit();
  ASSERT_NO_FATAL_FAILURE(make_big_directory(root_.path() / "big", 5000));
  const std::string long_path = make_file_at_long_path(root_.path(), 64 << 20);
  write_file(root_.path() / "large", "");
  fs::resize_file(root_.path() / "large", 64 << 20);
  std::vector<std::string> flags = {"--handshake-timeout", "300s", "--idle-timeout", "300s"};
  std::vector<std::string> key_flag;
  std::shared_ptr<TlsContext> tls;
  if (!client_key.empty()) {
    flags.insert(flags.end(), {"--keys", keys_file});
    tls = keyed(client_key).tls;
    ASSERT_TRUE(tls);
    const fs::path key_file = work_ / "client.key";
    write_file(key_file, client_key);
    fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
    key_flag = {"--key-file", key_file.string()};
  }
  start_server(flags);
  std::deque<RawClient> clients;
  std::size_t next = 0;
  auto open_next = [&]() -> RawClient& {
    RawClientOptions options = source_for(next++);
    options.tls = tls;
    clients.emplace_back(server_.port(), options);
    EXPECT_TRUE(clients.back().connected()) << next - 1;
    return clients.back();
  };
  // 400 DATA headers declaring 4 MiB, nothing more.
  for (int i = 0; i < 400; ++i) {
    Bytes out = hello_bytes();
    append_bare_data_header(out, 1);
    open_next().send_nonblocking(out, 0ms);
  }
  // 150 connections of four 1 MiB eager PUTs without END.
  for (int i = 0; i < 150; ++i) {
    Bytes out = hello_bytes(kCapEager);
    for (std::uint32_t id = 1; id <= 4; ++id) {
      append_eager_put_without_end(out, id, "e" + std::to_string(i) + "-" + std::to_string(id),
                                   1 << 20);
    }
    open_next().send_nonblocking(out, 0ms);
  }
  // 50 connections of 1,024 LISTs of the 5,000-entry directory, unread.
  Bytes storm = hello_bytes();
  for (std::uint32_t id = 1; id <= 1024; ++id) encode_list(storm, id, PathMsg{"big"});
  for (int i = 0; i < 50; ++i) open_next().send_nonblocking(storm, 0ms);
  // 10 connections at the in-flight cap: 1,024 GETs each of a 64 MiB file
  // at a 4 KiB path, unread.
  Bytes long_gets = hello_bytes();
  for (std::uint32_t id = 1; id <= 1024; ++id) encode_get(long_gets, id, GetMsg{long_path, 0});
  for (int i = 0; i < 10; ++i) open_next().send_nonblocking(long_gets, 0ms);
  // 90 connections of 8 unread downloads of a 64 MiB file.
  Bytes gets = hello_bytes();
  for (std::uint32_t id = 1; id <= 8; ++id) encode_get(gets, id, GetMsg{"large", 0});
  for (int i = 0; i < 90; ++i) open_next().send_nonblocking(gets, 0ms);
  // 299 connections cut short, waiting for the handshake deadline: a hello
  // (open), the record header and first bytes of a ClientHello (--keys).
  // The last place is the normal client's.
  Bytes cut_short = hello_bytes();
  cut_short.resize(10);
  if (tls) {
    cut_short = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
    cut_short.resize(cut_short.size() + 64, 0x5a);
    tls.reset();  // plain sockets from here on
  }
  for (int i = 0; i < 299; ++i) open_next().send_nonblocking(cut_short, 0ms);
  ASSERT_EQ(next, 999u);

  wait_until_idle(server_.pid(), 120s);
  const double seconds = small_round_trip("normal.bin", key_flag);
  std::printf("normal round trip under the abuse mix: %.3f s\n", seconds);
  EXPECT_LT(seconds, kSanitized ? 10.0 : 1.0);
  const long hwm_kib = report_hwm("1,000 connections of the abuse mix");
  EXPECT_LT(hwm_kib, bound_kib(bound_mib));
  server_.collect_output();
}

TEST_F(MemoryTest, AbuseMixStaysUnderTheDocumentedBound) {
  abuse_mix("", "", kDocumentedBoundMib);
}

TEST_F(MemoryTest, AbuseMixWithKeysStaysUnderItsDocumentedBound) {
  const std::string keys = (work_ / "keys").string();
  RunResult added = run(
      {bin("ftserve"), "keys", "add", "mallory", "--keys", keys, "--rights", "list,read,create"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  abuse_mix(keys, added.out, kDocumentedKeysBoundMib);
}

TEST_F(MemoryTest, IdleTlsConnectionsKeepNoBuffersOfTheirDownloads) {
  // 120 authenticated connections each download an 8 MiB file whole, then
  // stay open and idle. The buffers their replies were encrypted into go
  // back to one server-wide pool: kept per connection (two pooled plus the
  // engine's own), 120 idle peers held over 300 MiB.
  raise_own_descriptor_limit();
  const std::string keys = (work_ / "keys").string();
  RunResult added =
      run({bin("ftserve"), "keys", "add", "reader", "--keys", keys, "--rights", "list,read"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  write_file(root_.path() / "eight", std::string(8 << 20, 'x'));
  start_server({"--keys", keys, "--idle-timeout", "300s"});
  std::shared_ptr<TlsContext> tls = keyed(added.out).tls;
  ASSERT_TRUE(tls);
  std::deque<RawClient> clients;
  Bytes get = hello_bytes();
  encode_get(get, 1, GetMsg{"eight", 0});
  for (std::size_t i = 0; i < 120; ++i) {
    RawClientOptions options = source_for(i);
    options.tls = tls;
    clients.emplace_back(server_.port(), options);
    RawClient& c = clients.back();
    ASSERT_TRUE(c.connected()) << i;
    ASSERT_TRUE(c.send(get)) << i;
    ASSERT_TRUE(c.read_hello()) << i;
    std::size_t data_frames = 0;
    for (;;) {
      auto frame = c.read_frame();
      ASSERT_TRUE(frame.has_value()) << "connection " << i << " after " << data_frames;
      ASSERT_NE(frame->header.type, FrameType::kError) << i;
      if (frame->header.type == FrameType::kData) ++data_frames;
      if (frame->header.type == FrameType::kEnd) break;
    }
    ASSERT_GT(data_frames, 0u);
  }
  wait_until_idle(server_.pid(), 60s);
  const long rss_kib = status_kib(server_.pid(), "VmRSS");
  std::printf("ftserve, 120 idle TLS connections after 8 MiB downloads: VmRSS %ld KiB\n", rss_kib);
  EXPECT_LT(rss_kib, bound_kib(64));
}

}  // namespace
}  // namespace ft::testing
