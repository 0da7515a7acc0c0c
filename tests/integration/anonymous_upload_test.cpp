// A small file sent whole (an eager upload) is created without a name and
// linked under its final name at its commit (server/storage/
// anonymous_file.hpp): its directory never holds a hidden temporary name
// for it. An overwrite still goes through a temporary name and a rename,
// the one atomic way to replace a name. inotify shows what the directory
// saw, in order.
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "common/os/fd.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kFiles = 60;
constexpr std::string_view kReservedPrefix = ".ft-";

struct DirectoryEvent {
  std::uint32_t mask = 0;
  std::string name;
};

// Watches one directory for names appearing in it.
class DirectoryWatch {
 public:
  explicit DirectoryWatch(const fs::path& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_.get() < 0 ||
        ::inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
      throw std::runtime_error("inotify: " + std::string(std::strerror(errno)));
    }
  }
  // Every event queued so far (the client has exited: all are queued).
  std::vector<DirectoryEvent> drain() {
    std::vector<DirectoryEvent> events;
    alignas(inotify_event) char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        events.push_back({event->mask, event->len > 0 ? std::string(event->name) : ""});
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    return events;
  }

 private:
  Fd fd_;
};

bool reserved(const std::string& name) {
  return name.rfind(kReservedPrefix, 0) == 0;
}

class AnonymousUploadTest : public ServerFixture {
 protected:
  // Sends a tree of small files into a directory watched from the start:
  // each name must appear once, created (a link), never renamed in, and
  // no reserved name at all.
  void send_and_watch(const std::vector<std::string>& wrapper) {
    const fs::path source = work_.path() / "batch";
    fs::create_directories(source);
    std::set<std::string> names;
    for (int i = 0; i < kFiles; ++i) {
      const std::string name = "f" + std::to_string(i);
      write_random_file(source / name, 100 + i * 150, 77u + static_cast<std::uint32_t>(i));
      names.insert(name);
    }
    const fs::path landing = root_.path() / "up" / "batch";
    fs::create_directories(landing);
    DirectoryWatch watch(landing);
    start_server({}, wrapper);

    RunResult sent = run({bin("ftsend"), "-q", "-r", source.string(), remote("up")});
    ASSERT_EQ(sent.exit_code, 0) << sent.err << server_.err();

    std::set<std::string> created;
    for (const DirectoryEvent& event : watch.drain()) {
      EXPECT_FALSE(reserved(event.name)) << "a temporary name appeared: " << event.name;
      EXPECT_FALSE(event.mask & IN_MOVED_TO) << "renamed into place: " << event.name;
      if (event.mask & IN_CREATE) created.insert(event.name);
    }
    EXPECT_EQ(created, names);
    for (const std::string& name : names) {
      EXPECT_EQ(file_hash(landing / name), file_hash(source / name)) << name;
    }
  }
};

TEST_F(AnonymousUploadTest, SmallFilesAppearOnlyUnderTheirFinalNames) {
  send_and_watch({});
}

// As a service user on a kernel before 6.10, linkat(AT_EMPTY_PATH) is
// refused and the link goes through /proc/self/fd (forced here by the test
// hook; strace shows which way each link went).
TEST_F(AnonymousUploadTest, SmallFilesAreLinkedThroughProcWhereTheDescriptorCannotBe) {
  const char* const strace = "/usr/bin/strace";
  if (!fs::exists(strace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  const fs::path log = work_.path() / "ftserve.strace";
  // LeakSanitizer cannot run under a tracer.
  send_and_watch({"/usr/bin/env", "FT_TEST_LINK_THROUGH_PROC=1",
                  "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", strace, "-f", "-qq", "-o",
                  log.string(), "-e", "trace=linkat"});
  // The signal goes to ftserve itself (strace would only detach from it).
  const pid_t ftserve = child_of(server_.pid());
  ASSERT_GT(ftserve, 0) << "strace has no child";
  ASSERT_EQ(::kill(ftserve, SIGTERM), 0);
  EXPECT_EQ(server_.stop(0), 0) << server_.err();

  int through_proc = 0;
  std::istringstream lines(read_file(log));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("linkat(") == std::string::npos) continue;
    EXPECT_EQ(line.find("AT_EMPTY_PATH"), std::string::npos) << line;
    if (line.find("\"/proc/self/fd/") != std::string::npos) ++through_proc;
  }
  EXPECT_EQ(through_proc, kFiles);
}

TEST_F(AnonymousUploadTest, AnOverwriteStillReplacesTheNameByRename) {
  const fs::path file = work_.path() / "note.txt";
  write_file(file, "first version\n");
  start_server();
  RunResult first = run({bin("ftsend"), "-q", file.string(), remote("up/")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const fs::path landed = root_.path() / "up" / "note.txt";
  ASSERT_EQ(read_file(landed), "first version\n");
  struct stat before {};
  ASSERT_EQ(::stat(landed.c_str(), &before), 0);

  write_file(file, "second version, longer\n");
  DirectoryWatch watch(landed.parent_path());
  RunResult second = run({bin("ftsend"), "-q", file.string(), remote("up/")});
  ASSERT_EQ(second.exit_code, 0) << second.err;

  EXPECT_EQ(read_file(landed), "second version, longer\n");
  struct stat after {};
  ASSERT_EQ(::stat(landed.c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino) << "written through, not replaced";
  EXPECT_EQ(after.st_nlink, 1u) << "the temporary name is left";
  bool renamed = false;
  for (const DirectoryEvent& event : watch.drain()) {
    if ((event.mask & IN_MOVED_TO) && event.name == "note.txt") renamed = true;
  }
  EXPECT_TRUE(renamed) << "the new version did not replace the name by rename";
  EXPECT_EQ(root_names(), (std::vector<std::string>{"up", "up/note.txt"}));
}

}  // namespace
}  // namespace ft::testing
