// ftserve: serves a directory tree to ft clients over TCP, or over TLS 1.3
// with pre-shared keys when started with --keys.
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "common/crypto/keys.hpp"
#include "common/crypto/tls_engine.hpp"
#include "common/rules/address.hpp"
#include "common/rules/byte_rate.hpp"
#include "common/rules/duration.hpp"
#include "common/rules/errors.hpp"
#include "common/wire/chunk_compression.hpp"
#include "server/cli/balancer_options.hpp"
#include "server/cli/keys_command.hpp"
#include "server/cli/listen_address.hpp"
#include "server/cli/log_options.hpp"
#include "server/cli/server_config.hpp"
#include "server/log/log.hpp"
#include "server/net/server.hpp"
#include "server/net/systemd_service.hpp"
#include "server/storage/root_fs.hpp"

namespace {

// ftserve's statuses are rows of the one exit table (common/rules/errors.hpp,
// docs/server.md "Exit status").
constexpr int kBadSetup = static_cast<int>(ft::Exit::kLocalFile);       // --root or --keys unusable
constexpr int kCannotListen = static_cast<int>(ft::Exit::kConnection);  // address in use, denied
constexpr int kLeakedHandle = static_cast<int>(ft::Exit::kFailure);     // a bug: see close_loop()

// Closes the loop after uv_run() returned. Every handle must have been
// closed by its owner by then; one still open is a bug (a leaked connection
// or timer), so it is named on stderr and the exit status says so rather
// than the leak passing unnoticed.
int close_loop(uv_loop_t* loop) {
  int rc = uv_loop_close(loop);
  if (rc == 0) return 0;
  ft::server::log::error("internal error: the event loop did not close (%s)", uv_strerror(rc));
  uv_walk(
      loop,
      [](uv_handle_t* handle, void*) {
        ft::server::log::error("handle still open at exit: %s%s",
                               uv_handle_type_name(uv_handle_get_type(handle)),
                               uv_is_closing(handle) ? " (closing)" : "");
      },
      nullptr);
  return kLeakedHandle;
}

std::string format_ms(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

// A server holding up to --max-connections sockets needs as many
// descriptors: take the hard limit, which is ours to take.
void raise_descriptor_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before any libuv call: the pool size is read once, at first use. Disk
  // jobs (writes, fsync, renames) of several clients run there in parallel.
  setenv("UV_THREADPOOL_SIZE", "8", 0);
  // One malloc arena for every thread. glibc gives each pool thread an
  // arena of its own, and memory freed there stays resident: after a
  // million STATs and a million opens (ftsend -r and ftget -r of a
  // million-file directory) the eight pool threads' arenas held 13 MiB,
  // taking ftserve from 21 to 31 MiB (docs/server.md, "Memory"). The pool
  // threads allocate little (buffers are the loop's), so one lock costs
  // little.
  mallopt(M_ARENA_MAX, 1);
  // The log is flushed once per loop turn by the Server (and at exit).
  static char log_buffer[64 * 1024];
  std::setvbuf(stderr, log_buffer, _IOFBF, sizeof log_buffer);
  // A peer that resets its connection must cost that connection, never the
  // daemon: writes then fail with EPIPE instead of raising SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && std::strcmp(argv[1], "keys") == 0) {
    return ft::server::run_keys_command(argc - 1, argv + 1);
  }

  const ft::server::ServerOptions defaults;
  CLI::App app{
      "ftserve: serve DIR to ft clients (ftsend, ftget, ftls).\n"
      "With --keys FILE every connection is TLS 1.3 authenticated by a pre-shared key, and\n"
      "each identity has its rights and optionally its own sub-directory. Create keys with\n"
      "  ftserve keys add NAME --keys FILE [--rights list,read,create] [--subdir DIR]\n"
      "(also: ftserve keys list --keys FILE, ftserve keys remove NAME --keys FILE).\n"
      "WARNING: without --keys ftserve runs OPEN: no authentication, no encryption; anyone\n"
      "who can reach the port can read and write the served tree. Trusted networks only.\n"
      "Every option can also be set in a file read with --config FILE (docs/server.md).\n"
      "SIGTERM drains (--drain-timeout), SIGINT stops at once.\n"
      "Exit status: 0 stopped by SIGINT/SIGTERM, 2 usage error (also a bad --config file\n"
      "or --listen), 3 --root or --keys unusable, 4 cannot listen.\n"
      "Uploads from clients that speak RESUME keep their partial data (hidden .ft-part-*\n"
      "files) after a lost connection, for --partial-ttl.\n"
      "Modes sent by clients pass through --umask (default 022); a client never changes\n"
      "the mode or times of the served root or of an identity's directory.\n"
      "Durations: 90, 500ms, 30s, 15m, 12h, 3d. Sizes: 4096, 512K, 64M, 2G, 1T.",
      "ftserve"};
  std::string root;
  std::string listen = "0.0.0.0:7070";
  std::string keys_file;
  app.add_option("--root", root, "directory to serve (must exist)")->required();
  app.add_option(
         "--listen", listen,
         "HOST:PORT to listen on, HOST a name or an address: localhost:7070,\n"
         "0.0.0.0:7070 (every IPv4 interface), [::]:7070 for IPv6; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--keys", keys_file,
                 "keys file (mode 0600): require TLS with a pre-shared key from it");
  bool read_only = false;
  bool append_only = false;
  app.add_flag("--read-only", read_only, "everyone may only list and read");
  app.add_flag("--append-only", append_only,
               "nobody may overwrite (or delete) an existing file or link");
  bool owners = false;
  app.add_flag("--owners", owners,
               "open mode, as root: clients may set files' owners and groups "
               "(ftsend -a); keyed identities need the owner right instead");
  std::string partial_ttl = "3d";
  app.add_option("--partial-ttl", partial_ttl,
                 "remove partial uploads (kept for resume) older than this")
      ->capture_default_str();
  std::size_t max_connections = defaults.max_connections;
  app.add_option("--max-connections", max_connections,
                 "connections served at once; more get SERVER_FULL")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  std::size_t max_unauthenticated = defaults.max_unauthenticated_per_address;
  app.add_option("--max-unauthenticated-per-address", max_unauthenticated,
                 "connections from one address still in their handshake; more get SERVER_FULL")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  std::string handshake_timeout = format_ms(defaults.handshake_timeout);
  app.add_option("--handshake-timeout", handshake_timeout,
                 "time to complete the TLS handshake and the ft hello (0: none)")
      ->capture_default_str();
  std::string idle_timeout = format_ms(defaults.idle_timeout);
  app.add_option("--idle-timeout", idle_timeout,
                 "close a connection that moved no byte either way for this long (0: never)")
      ->capture_default_str();
  // Sizes as the clients take them (--chunk-size): 4096, 512K, 64M, 2G, 1T.
  std::uint64_t max_file_size = defaults.max_file_size;
  app.add_option("--max-file-size", max_file_size,
                 "refuse uploads declaring more bytes (FILE_TOO_LARGE); 0: no limit")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  std::uint64_t free_space_reserve = defaults.free_space_reserve;
  app.add_option("--free-space-reserve", free_space_reserve,
                 "refuse uploads that would leave less free space (NO_SPACE); default 64M")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  std::size_t max_uploads = defaults.max_uploads_per_identity;
  app.add_option("--max-uploads-per-identity", max_uploads,
                 "uploads open at once per identity, all connections (TOO_MANY_UPLOADS)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  std::size_t max_partials = defaults.max_partials_per_identity;
  app.add_option("--max-partials-per-identity", max_partials,
                 "partial files of resumable uploads an identity may keep, open or cut\n"
                 "(QUOTA_EXCEEDED); in open mode all clients share one count")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  std::string bwlimit = "0";
  app.add_option("--bwlimit", bwlimit,
                 "bytes per second all connections together may move, in each direction\n"
                 "(10M, 1.5MiB/s; units are powers of 1024; 0: no limit; at least 64K)")
      ->capture_default_str();
  std::string bwlimit_per_identity = "0";
  app.add_option("--bwlimit-per-identity", bwlimit_per_identity,
                 "the same for each identity's connections together (open mode: all)")
      ->capture_default_str();
  bool no_compress = false;
  app.add_flag("--no-compress", no_compress,
               "do not offer COMPRESS: clients asking to compress then send plain DATA");
  int compress_level = defaults.compress_level;
  app.add_option("--compress-level", compress_level,
                 "zstd level of the chunks downloads send compressed (-7 to 19)")
      ->capture_default_str();
  std::string umask_text = "022";
  app.add_option("--umask", umask_text,
                 "octal bits taken from every mode a client sends (PUT, MKDIR) and from what\n"
                 "ftserve creates; directories always keep rwx for their owner")
      ->capture_default_str();
  ft::server::LogOptions log_options;
  ft::server::add_log_options(app, log_options);
  ft::server::BalancerOptions balancer_options;
  ft::server::add_balancer_options(app, balancer_options);
  app.set_version_flag("--version", std::string("ftserve ") + FT_VERSION);
  const auto config = ft::server::add_config_option(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // A --config file that cannot be opened: CLI11 says "FILE was not readable".
    const char* lead = dynamic_cast<const CLI::FileError*>(&e) != nullptr ? "--config " : "";
    std::fprintf(stderr, "ftserve: %s%s\nRun with --help for more information.\n", lead,
                 config->locate(e.what()).c_str());
    return static_cast<int>(ft::Exit::kUsage);
  }
  if (int rc = ft::server::apply_log_options(log_options); rc != 0) return rc;

  // "FILE:LINE: " leads the message when the value came from --config.
  auto usage = [&config](const char* option, const std::string& value, const char* expected) {
    std::fprintf(stderr, "ftserve: %s%s %s: expected %s\n", config->where(option).c_str(), option,
                 value.c_str(), expected);
    return static_cast<int>(ft::Exit::kUsage);
  };
  std::string why;
  auto address = ft::server::resolve_listen(listen, why);
  if (!address) {
    std::fprintf(stderr, "ftserve: %s--listen %s: %s\n", config->where("--listen").c_str(),
                 listen.c_str(), why.c_str());
    return static_cast<int>(ft::Exit::kUsage);
  }
  // A socket passed by systemd (ftserve.socket) is where ftserve listens;
  // an explicit --listen as well is a conflict, not a silent choice.
  std::string socket_why;
  const int inherited = ft::server::take_inherited_listener(socket_why);
  if (!socket_why.empty()) {
    std::fprintf(stderr, "ftserve: %s\n", socket_why.c_str());
    return kCannotListen;
  }
  if (inherited >= 0 && app.count("--listen") > 0) {
    std::fprintf(stderr,
                 "ftserve: --listen %s: systemd passed a listening socket (ftserve.socket); "
                 "give one or the other\n",
                 listen.c_str());
    return static_cast<int>(ft::Exit::kUsage);
  }
  auto ttl = ft::parse_duration(partial_ttl);
  if (!ttl) return usage("--partial-ttl", partial_ttl, "a duration like 30s, 15m, 12h, 3d");
  char* umask_end = nullptr;
  const unsigned long umask_value = std::strtoul(umask_text.c_str(), &umask_end, 8);
  if (umask_text.empty() || *umask_end != '\0' || umask_value > 0777) {
    return usage("--umask", umask_text, "octal permission bits such as 022, 027 or 077");
  }
  ft::server::ServerOptions options;
  options.umask = static_cast<std::uint32_t>(umask_value);
  // Before any thread exists: files and directories are created through
  // it, and process_umask() reads it once for the modes applied later.
  ::umask(static_cast<mode_t>(options.umask));
  ft::server::process_umask();
  options.read_only = read_only;
  options.append_only = append_only;
  options.owners = owners;
  options.max_connections = max_connections;
  options.max_unauthenticated_per_address = max_unauthenticated;
  options.max_uploads_per_identity = max_uploads;
  options.max_partials_per_identity = max_partials;
  auto handshake = ft::parse_duration_ms(handshake_timeout);
  if (!handshake) return usage("--handshake-timeout", handshake_timeout, "a duration like 10s");
  options.handshake_timeout = *handshake;
  auto idle = ft::parse_duration_ms(idle_timeout);
  if (!idle) return usage("--idle-timeout", idle_timeout, "a duration like 60s");
  options.idle_timeout = *idle;
  options.max_file_size = max_file_size;
  options.free_space_reserve = free_space_reserve;
  for (auto [option, text, target] : {std::tuple{"--bwlimit", &bwlimit, &options.bwlimit},
                                      std::tuple{"--bwlimit-per-identity", &bwlimit_per_identity,
                                                 &options.bwlimit_per_identity}}) {
    auto rate = ft::parse_byte_rate(*text);
    if (!rate || (*rate != 0 && *rate < ft::server::BandwidthPacer::kMinRate)) {
      return usage(option, *text, "a rate of at least 64K bytes per second (10M, 1.5MiB/s) or 0");
    }
    *target = *rate;
  }
  if (compress_level < ft::kMinCompressLevel || compress_level > ft::kMaxCompressLevel) {
    return usage("--compress-level", std::to_string(compress_level), "a zstd level from -7 to 19");
  }
  options.compress = !no_compress;
  options.compress_level = compress_level;
  if (int rc = ft::server::apply_balancer_options(
          balancer_options, options,
          [&config](const char* option) { return config->where(option); });
      rc != 0) {
    return rc;
  }

  int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    ft::server::log::error("%s--root %s: %s", config->where("--root").c_str(), root.c_str(),
                           std::strerror(errno));
    return kBadSetup;
  }
  ft::Fd root_owner(root_fd);

  if (!keys_file.empty()) {
    auto text = ft::read_private_file(keys_file, why);
    if (!text) {
      ft::server::log::error("--keys %s", why.c_str());
      return kBadSetup;
    }
    auto entries = ft::parse_keys_file(*text, why);
    ft::wipe(*text);  // the parsed entries wipe their own copies
    if (!entries) {
      ft::server::log::error("--keys %s: %s", keys_file.c_str(), why.c_str());
      return kBadSetup;
    }
    if (entries->empty()) {
      ft::server::log::warn(
          "--keys %s holds no key: every client will be refused "
          "(add one with: ftserve keys add NAME --keys %s)",
          keys_file.c_str(), keys_file.c_str());
    }
    // The lookup runs inside the handshake: identity -> key, nothing else.
    auto by_identity = std::make_shared<std::map<std::string, ft::PskKey, std::less<>>>();
    for (const ft::KeyEntry& entry : *entries) by_identity->emplace(entry.key.identity, entry.key);
    options.tls = ft::TlsContext::server(
        [by_identity](std::string_view identity) -> std::optional<ft::PskKey> {
          auto it = by_identity->find(identity);
          if (it == by_identity->end()) return std::nullopt;
          return it->second;
        },
        why);
    if (!options.tls) {
      ft::server::log::error("--keys %s: TLS: %s", keys_file.c_str(), why.c_str());
      return kBadSetup;
    }
    options.keys = std::move(*entries);
  }
  raise_descriptor_limit();

  uv_loop_t* loop = uv_default_loop();
  int exit_code = 0;
  {
    const bool open_mode = !options.tls;
    const std::size_t identities = options.keys.size();
    ft::server::SystemdNotifier systemd(loop);
    ft::server::Server server(loop, std::move(root_owner), std::move(options));
    std::string bound;
    server.start_partial_cleanup(*ttl);
    std::string metrics_bound;
    int rc = inherited >= 0 ? server.adopt(inherited, bound) : server.listen(*address, bound);
    if (rc != 0) {
      ft::server::log::error("cannot listen on %s: %s",
                             inherited >= 0 ? "the socket passed by systemd" : listen.c_str(),
                             uv_strerror(rc));
    } else if (log_options.metrics_address &&
               (rc = server.serve_metrics(*log_options.metrics_address, metrics_bound)) != 0) {
      ft::server::log::error("--metrics: cannot listen on %s: %s", log_options.metrics.c_str(),
                             uv_strerror(rc));
    }
    if (rc != 0) {
      server.stop();
      exit_code = kCannotListen;
    } else {
      if (open_mode) {
        ft::server::log::warn(
            "WARNING: serving %s in OPEN MODE: no authentication, no encryption; anyone who "
            "can reach %s can read and write it. Use --keys FILE (see ftserve keys add --help).",
            root.c_str(), bound.c_str());
      } else {
        ft::server::log::info("serving %s over TLS to %zu identit%s from %s", root.c_str(),
                              identities, identities == 1 ? "y" : "ies", keys_file.c_str());
      }
      if (!metrics_bound.empty()) {
        ft::server::log::info("metrics on http://%s/metrics (unauthenticated)",
                              metrics_bound.c_str());
      }
      ft::server::log::flush();  // the warning goes out before the ready line, not at the first
                                 // turn
      std::printf("listening on %s\n", bound.c_str());
      std::fflush(stdout);
      systemd.ready(server, "listening on " + bound);
    }
    uv_run(loop, UV_RUN_DEFAULT);
  }
  if (int leaked = close_loop(loop); leaked != 0) return leaked;
  return exit_code;
}
