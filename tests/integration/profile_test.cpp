// Client profiles (docs/client.md "Profiles"): NAME: and NAME:PATH stand for
// a server of the per-user file, with its key file and default options;
// the command line wins, plain HOST arguments keep their meaning, and a bad
// file is a usage error (2) naming FILE:LINE.
#include "common/rules/errors.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kUsage = static_cast<int>(Exit::kUsage);
constexpr int kAuth = static_cast<int>(Exit::kAuth);

class ProfileTest : public ServerFixture {
 protected:
  /// Writes the profile file at `path` (default: the XDG place in home_).
  fs::path write_config(const std::string& text, fs::path path = {}) {
    if (path.empty()) path = home_ / ".config" / "ft" / "config";
    fs::create_directories(path.parent_path());
    write_file(path, text);
    return path;
  }
  std::string nas_profile(const std::string& extra = "") const {
    return "[nas]\nhost = " + loopback_remote(server_.port()) + "\n" + extra;
  }
  /// Runs a client with HOME set to home_ and no other config variable.
  RunResult client(std::vector<std::string> argv, const std::vector<std::string>& env = {}) {
    std::vector<std::string> full = {
        "/usr/bin/env", "-u", "XDG_CONFIG_HOME", "-u",
        "FT_CONFIG",    "-u", "FT_KEY_FILE",     "HOME=" + home_.path().string()};
    full.insert(full.end(), env.begin(), env.end());
    full.insert(full.end(), argv.begin(), argv.end());
    return run(full, std::chrono::seconds(60));
  }

  TempDir home_;
};

TEST_F(ProfileTest, SendListAndGetThroughAProfile) {
  start_server();
  write_config("# my servers\n" + nas_profile());
  fs::create_directories(work_ / "docs" / "sub");
  write_file(work_ / "docs" / "a.txt", "alpha");
  write_file(work_ / "docs" / "sub" / "b.txt", "beta");
  RunResult sent = client({bin("ftsend"), "-r", (work_ / "docs").string(), "nas:"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_ / "docs" / "sub" / "b.txt"), "beta");
  RunResult listed = client({bin("ftls"), "-r", "nas:docs"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, "a.txt\nsub/\nsub/b.txt\n");
  RunResult got = client({bin("ftget"), "nas:/docs/a.txt", (work_ / "out").string() + "/"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(work_ / "out" / "a.txt"), "alpha");
  // $XDG_CONFIG_HOME, $FT_CONFIG and --config point elsewhere.
  TempDir elsewhere;
  write_config("[xdg]\nhost = " + remote() + "\n", elsewhere / "ft" / "config");
  EXPECT_EQ(
      client({bin("ftls"), "xdg:"}, {"XDG_CONFIG_HOME=" + elsewhere.path().string()}).exit_code, 0);
  const fs::path named = write_config("[env]\nhost = " + remote() + "\n", elsewhere / "named");
  EXPECT_EQ(client({bin("ftls"), "env:"}, {"FT_CONFIG=" + named.string()}).exit_code, 0);
  EXPECT_EQ(client({bin("ftls"), "--config", named.string(), "env:docs"}).out, "a.txt\nsub/\n");
}

TEST_F(ProfileTest, KeyFileAndDefaultOptionsComeFromTheProfile) {
  const fs::path keys = work_ / "keys";
  RunResult added = run({bin("ftserve"), "keys", "add", "laptop", "--keys", keys.string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  start_server({"--keys", keys.string()});
  // A relative key file is found beside the profile file.
  const fs::path config = write_config(nas_profile("key-file = laptop.key\nretries = 0\n"));
  write_private(config.parent_path() / "laptop.key", added.out);
  write_file(work_ / "a.txt", "secret");
  RunResult sent = client({bin("ftsend"), (work_ / "a.txt").string(), "nas:"});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_ / "a.txt"), "secret");
  // The plain address does not use the profile: no key.
  RunResult plain = client({bin("ftls"), remote()});
  EXPECT_EQ(plain.exit_code, kAuth) << plain.err;

  // A bad default option is reported at its line, unless the command line
  // gives that option itself.
  write_config(nas_profile("key-file = laptop.key\nchunk-size = 12\n"));
  RunResult bad = client({bin("ftsend"), (work_ / "a.txt").string(), "nas:"});
  EXPECT_EQ(bad.exit_code, kUsage) << bad.err;
  EXPECT_NE(bad.err.find("config:4: "), std::string::npos) << bad.err;
  RunResult overridden =
      client({bin("ftsend"), "--chunk-size", "64K", (work_ / "a.txt").string(), "nas:copy"});
  EXPECT_EQ(overridden.exit_code, 0) << overridden.err;
  EXPECT_EQ(read_file(root_ / "copy"), "secret");
  // ftls has no --chunk-size: the setting is not its business.
  EXPECT_EQ(client({bin("ftls"), "nas:"}).exit_code, 0);
}

TEST_F(ProfileTest, SwitchesThatNeedRecursiveApplyOnlyWithIt) {
  start_server();
  write_config(nas_profile("checksum = true\nlinks = true\n"));
  write_file(work_ / "a.txt", "one");
  // Without -r, --checksum and --links would be usage errors: not applied.
  RunResult sent = client({bin("ftsend"), (work_ / "a.txt").string(), "nas:"});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  // With -r and --ignore-existing (which excludes --checksum) the command
  // line wins over the profile's checksum.
  fs::create_directories(work_ / "tree");
  write_file(work_ / "tree" / "t", "t");
  RunResult tree =
      client({bin("ftsend"), "-r", "--ignore-existing", (work_ / "tree").string(), "nas:"});
  EXPECT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(read_file(root_ / "tree" / "t"), "t");
}

TEST_F(ProfileTest, BadFilesNameTheLine) {
  start_server();
  struct Case {
    std::string text;
    std::string expected;  // after "config:"
  };
  const std::vector<Case> cases = {
      {"retries = 1\n", "1: settings belong to a profile"},
      {"[nas]\nhost = 127.0.0.1:1\nbogus = 1\n", "3: unknown setting 'bogus' in [nas]"},
      {"[nas]\nretries = 1\n", "1: profile [nas] has no 'host"},
      {"[nas]\nhost = nas.lan:x\n", "2: bad host 'nas.lan:x'"},
      {"[nas]\nhost = nas.lan/dir\n", "2: bad host"},
      {"[nas]\nhost = a\nhost = b\n", "3: 'host' is already set on line 2"},
      {"[nas]\nhost = a\nprogress = sometimes\n", "3: 'progress' is a switch"},
      {"[nas]\nhost = a\n[nas]\nhost = b\n", "3: section [nas] already started on line 1"},
      {"[nas\n", "1: missing ']'"},
      {"[nas]\nhost = a\nkey-file =\n", "3: no value for 'key-file'"},
  };
  for (const Case& c : cases) {
    write_config(c.text);
    RunResult r = client({bin("ftls"), "nas:"});
    EXPECT_EQ(r.exit_code, kUsage) << c.text << r.err;
    EXPECT_NE(r.err.find("/.config/ft/config:" + c.expected), std::string::npos)
        << c.text << "\n-> " << r.err;
  }
  // A bad exclude pattern names its line.
  fs::create_directories(work_ / "tree");
  write_config(nas_profile("exclude = /\n"));
  RunResult bad = client({bin("ftsend"), "-r", (work_ / "tree").string(), "nas:"});
  EXPECT_EQ(bad.exit_code, kUsage) << bad.err;
  EXPECT_NE(bad.err.find("config:3: bad exclude pattern"), std::string::npos) << bad.err;
}

TEST_F(ProfileTest, ExcludesOfAProfileLeaveNamesOutOfTreeTransfers) {
  start_server();
  fs::create_directories(work_ / "tree" / "cache");
  write_file(work_ / "tree" / "keep.txt", "k");
  write_file(work_ / "tree" / "drop.tmp", "d");
  write_file(work_ / "tree" / "cache" / "c", "c");
  write_file(work_ / "tree" / "again.tmp", "a");
  write_config(nas_profile("exclude = *.tmp\nexclude = cache/\n"));
  // The command line's rules come first: --include takes back again.tmp.
  RunResult sent =
      client({bin("ftsend"), "-r", "--include", "again.tmp", (work_ / "tree").string(), "nas:"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_TRUE(fs::exists(root_ / "tree" / "keep.txt"));
  EXPECT_TRUE(fs::exists(root_ / "tree" / "again.tmp"));
  EXPECT_FALSE(fs::exists(root_ / "tree" / "drop.tmp"));
  EXPECT_FALSE(fs::exists(root_ / "tree" / "cache"));
  // The same profile on the way back.
  write_file(root_ / "tree" / "more.tmp", "m");
  RunResult got = client({bin("ftget"), "-r", "nas:tree", (work_ / "back").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(fs::exists(work_ / "back" / "tree" / "keep.txt"));
  EXPECT_FALSE(fs::exists(work_ / "back" / "tree" / "more.tmp"));
  EXPECT_FALSE(fs::exists(work_ / "back" / "tree" / "again.tmp"));
  // A single file is sent as named, whatever the profile leaves out of trees.
  RunResult one = client({bin("ftsend"), (work_ / "tree" / "drop.tmp").string(), "nas:"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_TRUE(fs::exists(root_ / "drop.tmp"));
}

TEST_F(ProfileTest, PlainHostsKeepTheirMeaning) {
  start_server();
  write_file(root_ / "f", "x");
  // A broken file is never read for a command line that names no profile.
  write_config("this is not a profile file\n");
  RunResult plain = client({bin("ftls"), remote()});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, "f\n");
  // HOST:PORT is still a port, never a profile named HOST.
  write_config("[127]\nhost = nowhere.invalid\n");
  EXPECT_EQ(client({bin("ftls"), remote()}).out, "f\n");
  // Unknown profiles, no file, --no-config: usage errors that say why.
  write_config(nas_profile());
  RunResult unknown = client({bin("ftls"), "other:"});
  EXPECT_EQ(unknown.exit_code, kUsage);
  EXPECT_NE(unknown.err.find("no profile 'other' in "), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("for the host other write other or other:PORT"), std::string::npos);
  RunResult off = client({bin("ftls"), "--no-config", "nas:"});
  EXPECT_EQ(off.exit_code, kUsage);
  EXPECT_NE(off.err.find("--no-config"), std::string::npos) << off.err;
  fs::remove(home_ / ".config" / "ft" / "config");
  RunResult none = client({bin("ftls"), "nas:"});
  EXPECT_EQ(none.exit_code, kUsage);
  EXPECT_NE(none.err.find("does not exist"), std::string::npos) << none.err;
  // A file named with --config must exist and parse, profile or not.
  RunResult given = client({bin("ftls"), "--config", (work_ / "none").string(), remote()});
  EXPECT_EQ(given.exit_code, kUsage);
  EXPECT_NE(given.err.find("no such file"), std::string::npos) << given.err;
}

}  // namespace
}  // namespace ft::testing
