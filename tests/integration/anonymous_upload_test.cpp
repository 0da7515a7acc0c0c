// A small file sent whole (an eager upload) is created without a name and
// linked under its final name at its commit (server/storage/
// anonymous_file.hpp): its directory never holds a hidden temporary name
// for it. An overwrite still goes through a temporary name and a rename,
// the one atomic way to replace a name. inotify shows what the directory
// saw, in order.
#include <sys/inotify.h>
#include <unistd.h>

#include <set>

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

class AnonymousUploadTest : public ServerFixture {};

TEST_F(AnonymousUploadTest, SmallFilesAppearOnlyUnderTheirFinalNames) {
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
  start_server();

  RunResult sent = run({bin("ftsend"), "-q", "-r", source.string(), remote("up")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;

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
