#include "fake_scenarios.hpp"

namespace fake {

std::string payload_for(const std::string& path) {
  return "payload:" + path;
}

ft::ByteSpan span_of(const std::string& bytes) {
  return ft::ByteSpan(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

namespace {

Entry file(const std::string& name, const std::string& parent, std::uint32_t mode = 0644) {
  return Entry{
      name, EntryType::kFile, payload_for(parent + "/" + name).size(), kMtime, mode, {}, {}, {}};
}
Entry directory(const std::string& name, std::uint32_t mode = 0755) {
  return Entry{name, EntryType::kDirectory, 0, kMtime, mode, {}, {}, {}};
}
Entry symlink(const std::string& name, const std::string& target) {
  return Entry{name, EntryType::kSymlink, 0, kMtime, 0777, {}, target, {}};
}

}  // namespace

Entry sized_file(const std::string& name, std::uint64_t size) {
  return Entry{name, EntryType::kFile, size, kMtime, 0644, {}, {}, {}};
}
std::optional<std::vector<Entry>> listing(Scenario scenario, const std::string& path) {
  switch (scenario) {
    case Scenario::kHostile:
      if (path == "dir") {
        return std::vector<Entry>{
            file("", path),
            file("../escape", path),
            file("/abs-escape", path),
            file("a/b", path),
            directory(".."),
            directory("."),
            file(".ft-part.x", path),
            file(".ft-part-meta.good.txt", path),
            file("ctl\x1b[31mred", path),
            file("...", path),
            file("good.txt", path),
            symlink("evil-link", "../../etc"),
            symlink("evil-abs", "/etc"),
            symlink("good-link", "good.txt"),
            directory("sub"),
            directory("../updir"),
        };
      }
      if (path == "dir/sub") {
        return std::vector<Entry>{file("../../escape2", path), file("inner.txt", path)};
      }
      return std::nullopt;
    case Scenario::kChain:
      if (path == "dir") {
        return std::vector<Entry>{symlink("a", "sub/b/.."), directory("a"), directory("sub")};
      }
      if (path == "dir/sub") return std::vector<Entry>{symlink("b", "..")};
      if (path == "dir/a") return std::vector<Entry>{file("pwned", path)};
      return std::nullopt;
    case Scenario::kDeep: {
      // dir, dir/sub, dir/sub/sub, ... up to a bound that no client needs.
      std::string rest = path;
      if (rest.rfind("dir", 0) != 0) return std::nullopt;
      rest.erase(0, 3);
      std::size_t levels = 0;
      while (!rest.empty()) {
        if (rest.rfind("/sub", 0) != 0 || ++levels > kMaxDeepLevels) return std::nullopt;
        rest.erase(0, 4);
      }
      return std::vector<Entry>{file("f", path), directory("sub")};
    }
    case Scenario::kWrongName:
      if (path == "dir") {
        return std::vector<Entry>{file("file.txt", path), file("localcode.txt", path),
                                  directory("sub")};
      }
      if (path == "dir/sub") return std::vector<Entry>{file("inner.txt", path)};
      return std::nullopt;
    case Scenario::kExtra:
      if (path == "dir") {
        return std::vector<Entry>{file("beyond.txt", path), file("bigend.txt", path),
                                  file("good.txt", path), file("more.txt", path),
                                  file("overlap.txt", path)};
      }
      return std::nullopt;
    case Scenario::kShort:
      if (path == "dir") {
        return std::vector<Entry>{file("early.txt", path), file("good.txt", path),
                                  file("short.txt", path)};
      }
      return std::nullopt;
    case Scenario::kAbsurd:
      if (path == "dir") {
        return std::vector<Entry>{sized_file("huge", kHugeSize), sized_file("max", kMaxSize),
                                  file("ok.txt", path), directory("ok.txt")};
      }
      return std::nullopt;
    case Scenario::kSetuid:
      if (path == "dir") {
        return std::vector<Entry>{file("sgid-all", path, 06777), file("sticky", path, 01644),
                                  directory("stickydir", 01777), file("suid", path, 04755)};
      }
      if (path == "dir/stickydir") return std::vector<Entry>{file("inner", path, 02755)};
      return std::nullopt;
    case Scenario::kAnsi:
      if (path == "dir") {
        return std::vector<Entry>{
            file("bidi\xe2\x80\xaegnp.exe", path),
            file("c1\xc2\x9bname", path),
            file("cr\rname", path),
            file("err.txt", path),
            symlink("evil-link", "../\x1b[31m../x"),
            symlink("link", "good\x1b[31m"),
            file("osc\x1b]0;pwned\x07", path),
            file("red\x1b[31mname", path),
            directory("sub"),
        };
      }
      return std::nullopt;
    case Scenario::kSymlink:
      if (path == "dir") return std::vector<Entry>{file("file.txt", path), directory("sub")};
      if (path == "dir/sub") return std::vector<Entry>{file("inner.txt", path)};
      return std::nullopt;
    case Scenario::kSignature:  // an upload scenario: nothing to list
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Entry> stat_entry(Scenario scenario, const std::string& path) {
  auto slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (listing(scenario, path)) {
    return directory(name, scenario == Scenario::kSetuid && path == "dir" ? 07777 : 0755);
  }
  if (slash == std::string::npos) return std::nullopt;
  auto parent = listing(scenario, path.substr(0, slash));
  if (!parent) return std::nullopt;
  for (const auto& e : *parent) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

}  // namespace fake
