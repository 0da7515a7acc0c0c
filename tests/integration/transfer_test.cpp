// Round trips of single files through the real ftserve, ftsend and ftget,
// checked by hash, mode and mtime on disk.
#include <fcntl.h>
#include <sys/stat.h>

#include <thread>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

struct SizeCase {
  std::uint64_t size;
  std::uint32_t chunk;  // 0: the default chunk size
};

class RoundTrip : public ServerTest, public ::testing::WithParamInterface<SizeCase> {};

TEST_P(RoundTrip, UploadThenDownloadIsByteIdentical) {
  const SizeCase c = GetParam();
  fs::path source = work_ / "payload.bin";
  write_random_file(source, c.size, static_cast<std::uint32_t>(c.size));
  ::chmod(source.c_str(), 0640);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, source.c_str(), times, 0), 0);

  std::vector<std::string> send = {bin("ftsend")};
  if (c.chunk != 0) {
    send.push_back("--chunk-size");
    send.push_back(std::to_string(c.chunk));
  }
  send.push_back(source.string());
  send.push_back(remote("in/"));
  RunResult sent = run(send);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;

  fs::path landed = root_.path() / "in" / "payload.bin";
  EXPECT_EQ(file_hash(landed), file_hash(source));
  struct stat st;
  ASSERT_EQ(::stat(landed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(root_names(), (std::vector<std::string>{"in", "in/payload.bin"}));

  fs::path back = work_ / "back";
  RunResult got = run({bin("ftget"), remote("in/payload.bin"), back.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(back / "payload.bin"), file_hash(source));
  ASSERT_EQ(::stat((back / "payload.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(tree_names(back), (std::vector<std::string>{"payload.bin"}));
}

INSTANTIATE_TEST_SUITE_P(Sizes, RoundTrip,
                         ::testing::Values(SizeCase{0, 0}, SizeCase{1, 0}, SizeCase{kMiB - 1, 0},
                                           SizeCase{kMiB, 0}, SizeCase{kMiB + 1, 0},
                                           SizeCase{4095, 4096}, SizeCase{4096, 4096},
                                           SizeCase{4097, 4096}, SizeCase{64 * kMiB, 0}),
                         [](const ::testing::TestParamInfo<SizeCase>& info) {
                           return std::to_string(info.param.size) + "_bytes_chunk_" +
                                  std::to_string(info.param.chunk);
                         });

TEST_F(ServerTest, UnicodeNameIntoNestedDirectoryThatDoesNotExist) {
  const std::string name = "ünïcødé файл 📦 with spaces.txt";
  fs::path source = work_ / name;
  write_file(source, "hello, unicode\n");
  RunResult sent = run({bin("ftsend"), source.string(), remote("a/b/c/")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_.path() / "a/b/c" / name), "hello, unicode\n");

  fs::path back = work_ / "back";
  RunResult got = run({bin("ftget"), remote("a/b/c/" + name), back.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(back / name), "hello, unicode\n");
}

TEST_F(ServerTest, SeveralFilesTravelInOneCommand) {
  std::vector<std::string> send = {bin("ftsend")};
  std::vector<std::string> get = {bin("ftget")};
  for (int i = 0; i < 20; ++i) {
    fs::path file = work_ / ("f" + std::to_string(i));
    write_random_file(file, 1000u * static_cast<std::uint64_t>(i) * 37, i);
    send.push_back(file.string());
    get.push_back(remote("many/f" + std::to_string(i)));
  }
  send.push_back(remote("many"));
  RunResult sent = run(send);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  fs::path back = work_ / "back";
  get.push_back(back.string());
  RunResult got = run(get);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  for (int i = 0; i < 20; ++i) {
    std::string name = "f" + std::to_string(i);
    EXPECT_EQ(file_hash(root_.path() / "many" / name), file_hash(work_ / name)) << name;
    EXPECT_EQ(file_hash(back / name), file_hash(work_ / name)) << name;
  }
}

TEST_F(ServerTest, SixteenClientsUploadAtOnce) {
  constexpr int kClients = 16;
  for (int i = 0; i < kClients; ++i) {
    write_random_file(work_ / ("c" + std::to_string(i)), 2 * kMiB + 17u * i, 100 + i);
  }
  std::vector<RunResult> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      results[i] = run({bin("ftsend"), (work_ / ("c" + std::to_string(i))).string(),
                        remote("clients/" + std::to_string(i) + "/")});
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << results[i].err;
    std::string name = "c" + std::to_string(i);
    EXPECT_EQ(file_hash(root_.path() / "clients" / std::to_string(i) / name),
              file_hash(work_ / name));
  }
}

}  // namespace
}  // namespace ft::testing
