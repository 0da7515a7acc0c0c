// Interrupted transfers resume (issue 4): a 32 MiB upload and download are
// cut by ft_test_proxy at several offsets, from inside the handshake to
// inside the final END frame. The cut run fails with status 4 and leaves
// nothing under the final name; the next run ends with a byte-identical file
// and, once the first run got past the first chunks, moves fewer bytes than
// the whole file (counted by a second, fault-free proxy).
#include <fcntl.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "support/resume_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kBigSize = 32 * kMiB;
// END is 36 bytes (12 of header, 8 of size, 16 of hash) and always the last
// frame of the stream: a cut this far from the end lands in its middle.
constexpr std::uint64_t kIntoEnd = 18;
// Stands for "inside the END frame", whose offset is measured per run.
constexpr std::uint64_t kInsideEnd = 0;

struct CutCase {
  const char* name;
  std::uint64_t offset;  // kInsideEnd: measured
  bool past_first_chunks;
};

const CutCase kCuts[] = {
    {"InsideHello", 5, false},
    {"InsideRequest", 40, false},
    {"InsideFirstData", kMiB + 100, false},
    {"At20MiB", 20 * kMiB, true},
    {"InsideEnd", kInsideEnd, true},
};

void PrintTo(const CutCase& c, std::ostream* out) {
  *out << c.name;
}

std::string case_name(const ::testing::TestParamInfo<CutCase>& info) {
  return info.param.name;
}

class UploadCut : public ResumeTest, public ::testing::WithParamInterface<CutCase> {};

TEST_P(UploadCut, FailsThenResumesToAnIdenticalFile) {
  const CutCase c = GetParam();
  fs::path source = work_ / "big.bin";
  write_random_file(source, kBigSize, 41);
  auto send = [&](std::vector<std::string> options) {
    return [&source, options](const std::string& address) {
      std::vector<std::string> argv = {bin("ftsend")};
      argv.insert(argv.end(), options.begin(), options.end());
      argv.push_back(source.string());
      argv.push_back(address + "/dest/");
      return argv;
    };
  };
  fs::path landed = root_.path() / "dest" / "big.bin";

  std::uint64_t cut = c.offset;
  if (cut == kInsideEnd) {
    // The same command, uncut, tells how long the stream is.
    ProxiedRun clean = run_through_proxy({}, send({"--retries", "0"}));
    ASSERT_EQ(clean.result.exit_code, 0) << clean.result.err;
    std::uint64_t total = clean.traffic().upstream;
    ASSERT_GT(total, kBigSize) << clean.proxy_err;
    cut = total - kIntoEnd;
    fs::remove(landed);
  }

  ProxiedRun first =
      run_through_proxy({"--cut-after", std::to_string(cut)}, send({"--retries", "0"}));
  EXPECT_EQ(first.result.exit_code, kExitConnection) << first.result.err;
  EXPECT_EQ(first.traffic().upstream, cut) << first.proxy_err;
  EXPECT_FALSE(fs::exists(landed)) << "a cut upload must not be committed";
  for (const auto& name : visible_tree_names(root_.path())) EXPECT_EQ(name, "dest");

  ProxiedRun second = run_through_proxy({}, send({"-v"}));
  ASSERT_EQ(second.result.exit_code, 0) << second.result.err;
  EXPECT_EQ(file_hash(landed), file_hash(source));
  EXPECT_EQ(tree_names(root_.path()), (std::vector<std::string>{"dest", "dest/big.bin"}))
      << "no partial or temporary file may be left after the upload succeeded";
  if (c.past_first_chunks) {
    EXPECT_LT(second.traffic().upstream, kBigSize) << "the second run did not resume";
    EXPECT_NE((second.result.out + second.result.err).find("resumed"), std::string::npos)
        << "ftsend -v says nothing about resuming:\n"
        << second.result.out << second.result.err;
  }
  if (c.offset == kInsideEnd) {
    // Every chunk was there already: only the handshake, PUT and END moved.
    EXPECT_LT(second.traffic().upstream, 4096u) << second.proxy_err;
  }
}

INSTANTIATE_TEST_SUITE_P(Offsets, UploadCut, ::testing::ValuesIn(kCuts), case_name);

class DownloadCut : public ResumeTest, public ::testing::WithParamInterface<CutCase> {};

TEST_P(DownloadCut, FailsThenResumesToAnIdenticalFile) {
  const CutCase c = GetParam();
  fs::path served = root_.path() / "big.bin";
  write_random_file(served, kBigSize, 42);
  fs::path dest = work_ / "dest";
  fs::create_directory(dest);
  auto get = [&](std::vector<std::string> options, fs::path into) {
    return [options, into](const std::string& address) {
      std::vector<std::string> argv = {bin("ftget")};
      argv.insert(argv.end(), options.begin(), options.end());
      argv.push_back(address + "/big.bin");
      argv.push_back(into.string());
      return argv;
    };
  };

  std::uint64_t cut = c.offset;
  if (cut == kInsideEnd) {
    fs::path measure = work_ / "measure";
    fs::create_directory(measure);
    ProxiedRun clean = run_through_proxy({}, get({"--retries", "0"}, measure));
    ASSERT_EQ(clean.result.exit_code, 0) << clean.result.err;
    std::uint64_t total = clean.traffic().downstream;
    ASSERT_GT(total, kBigSize) << clean.proxy_err;
    cut = total - kIntoEnd;
  }

  ProxiedRun first = run_through_proxy({"--cut-downstream-after", std::to_string(cut)},
                                       get({"--retries", "0"}, dest));
  EXPECT_EQ(first.result.exit_code, kExitConnection) << first.result.err;
  EXPECT_EQ(first.traffic().downstream, cut) << first.proxy_err;
  EXPECT_FALSE(fs::exists(dest / "big.bin")) << "a cut download must not be committed";
  for (const auto& name : tree_names(dest)) {
    EXPECT_EQ(name.rfind(".ft-part", 0), 0u) << "unexpected file after a cut: " << name;
  }
  if (c.past_first_chunks) {
    EXPECT_FALSE(files_with_prefix(dest, ".ft-part").empty())
        << "ftget kept no hidden partial after receiving data";
  }

  ProxiedRun second = run_through_proxy({}, get({}, dest));
  ASSERT_EQ(second.result.exit_code, 0) << second.result.err;
  EXPECT_EQ(file_hash(dest / "big.bin"), file_hash(served));
  EXPECT_EQ(tree_names(dest), (std::vector<std::string>{"big.bin"}))
      << "the partial must be gone once the download succeeded";
  if (c.past_first_chunks) {
    EXPECT_LT(second.traffic().downstream, kBigSize) << "the second run did not resume";
  }
  if (c.offset == kInsideEnd) {
    EXPECT_LT(second.traffic().downstream, 4096u) << second.proxy_err;
  }
}

INSTANTIATE_TEST_SUITE_P(Offsets, DownloadCut, ::testing::ValuesIn(kCuts), case_name);

// A partial download is only continued while the remote file is the same:
// once it changed, ftget says so, starts over and lands the new file.
TEST_F(ResumeTest, DownloadStartsOverWhenTheRemoteFileChanged) {
  fs::path served = root_.path() / "big.bin";
  write_random_file(served, kBigSize, 45);
  fs::path dest = work_ / "dest";
  fs::create_directory(dest);
  auto get = [&](const std::string& address) {
    return std::vector<std::string>{bin("ftget"), "--retries", "0", address + "/big.bin",
                                    dest.string()};
  };
  ProxiedRun first = run_through_proxy({"--cut-downstream-after", std::to_string(20 * kMiB)}, get);
  ASSERT_EQ(first.result.exit_code, kExitConnection) << first.result.err;
  ASSERT_FALSE(files_with_prefix(dest, ".ft-part").empty());

  // Same size, other bytes, other mtime.
  write_random_file(served, kBigSize, 46);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, served.c_str(), times, 0), 0);
  ProxiedRun second = run_through_proxy({}, get);
  ASSERT_EQ(second.result.exit_code, 0) << second.result.err;
  EXPECT_NE((second.result.out + second.result.err).find("remote file changed; starting over"),
            std::string::npos)
      << second.result.out << second.result.err;
  EXPECT_EQ(file_hash(dest / "big.bin"), file_hash(served));
  EXPECT_GE(second.traffic().downstream, kBigSize) << "the whole new file must have moved";
  EXPECT_EQ(tree_names(dest), (std::vector<std::string>{"big.bin"}));
}

// With the default retries one command survives the cut: the proxy's faults
// hit its first connection only, the client reconnects, resumes and says so.
TEST_F(ResumeTest, UploadRetriesByItselfAfterACut) {
  fs::path source = work_ / "big.bin";
  write_random_file(source, kBigSize, 43);
  ProxiedRun proxied =
      run_through_proxy({"--cut-after", std::to_string(20 * kMiB)}, [&](const std::string& a) {
        return std::vector<std::string>{bin("ftsend"), source.string(), a + "/dest/"};
      });
  ASSERT_EQ(proxied.result.exit_code, 0) << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("ftsend: connection lost ("), std::string::npos)
      << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("retry 1/3 in "), std::string::npos) << proxied.result.err;
  EXPECT_EQ(file_hash(root_.path() / "dest" / "big.bin"), file_hash(source));
  EXPECT_EQ(proxied.traffic(1).upstream, 20 * kMiB) << proxied.proxy_err;
  EXPECT_LT(proxied.traffic(2).upstream, kBigSize) << "the retry did not resume\n"
                                                   << proxied.proxy_err;
  EXPECT_EQ(tree_names(root_.path()), (std::vector<std::string>{"dest", "dest/big.bin"}));
}

TEST_F(ResumeTest, DownloadRetriesByItselfAfterACut) {
  write_random_file(root_.path() / "big.bin", kBigSize, 44);
  fs::path dest = work_ / "dest";
  fs::create_directory(dest);
  ProxiedRun proxied = run_through_proxy(
      {"--cut-downstream-after", std::to_string(20 * kMiB)}, [&](const std::string& a) {
        return std::vector<std::string>{bin("ftget"), a + "/big.bin", dest.string()};
      });
  ASSERT_EQ(proxied.result.exit_code, 0) << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("ftget: connection lost ("), std::string::npos)
      << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("retry 1/3 in "), std::string::npos) << proxied.result.err;
  EXPECT_EQ(file_hash(dest / "big.bin"), file_hash(root_.path() / "big.bin"));
  EXPECT_LT(proxied.traffic(2).downstream, kBigSize) << "the retry did not resume\n"
                                                     << proxied.proxy_err;
  EXPECT_EQ(tree_names(dest), (std::vector<std::string>{"big.bin"}));
}

// --retries 0 fails at once; a refused connection is retried with backoff and
// then gives status 4, each retry reported.
TEST_F(ResumeTest, RetriesAreCountedAndThenGiveUpWithStatusFour) {
  write_file(work_ / "f", "x");
  // Faults apply to the first connection only, so a stall-free way to fail
  // every connection is a server that is gone.
  std::string address = server_address();
  stop_server();
  RunResult none = run({bin("ftsend"), "--retries", "0", (work_ / "f").string(), address});
  EXPECT_EQ(none.exit_code, kExitConnection) << none.err;
  EXPECT_EQ(none.err.find("retry"), std::string::npos) << none.err;

  RunResult two = run({bin("ftsend"), "--retries", "2", (work_ / "f").string(), address});
  EXPECT_EQ(two.exit_code, kExitConnection) << two.err;
  EXPECT_NE(two.err.find("retry 1/2 in "), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("retry 2/2 in "), std::string::npos) << two.err;
  EXPECT_EQ(two.err.find("retry 3/"), std::string::npos) << two.err;

  // Scripts see each retry in --json too, then the summary with status 4.
  RunResult json =
      run({bin("ftsend"), "--json", "--retries", "2", (work_ / "f").string(), address});
  EXPECT_EQ(json.exit_code, kExitConnection) << json.err;
  int retries = 0;
  bool summary = false;
  std::istringstream lines(json.out);
  for (std::string line; std::getline(lines, line);) {
    auto event = nlohmann::json::parse(line);
    if (event["event"] == "retry") ++retries;
    if (event["event"] == "summary") {
      summary = true;
      EXPECT_EQ(event["exit_code"], kExitConnection) << line;
    }
  }
  EXPECT_EQ(retries, 2) << json.out;
  EXPECT_TRUE(summary) << json.out;
}

}  // namespace
}  // namespace ft::testing
