// ftserve: serves a directory tree to ft clients over TCP.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "address.hpp"
#include "duration.hpp"
#include "errors.hpp"
#include "root_fs.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  // Before any libuv call: the pool size is read once, at first use. Disk
  // jobs (writes, fsync, renames) of several clients run there in parallel.
  setenv("UV_THREADPOOL_SIZE", "8", 0);
  // A peer that resets its connection must cost that connection, never the
  // daemon: writes then fail with EPIPE instead of raising SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  ft::server::process_umask();  // read once, before the thread pool exists

  CLI::App app{
      "ftserve: serve DIR to ft clients (ftsend, ftget, ftls).\n"
      "WARNING: this version has no authentication and no encryption: anyone who can reach\n"
      "the port can read and write the served tree. Serve trusted networks only.\n"
      "Exit status: 0 stopped by SIGINT/SIGTERM, 2 usage error, 3 --root unusable,\n"
      "4 cannot listen.\n"
      "Uploads from clients that speak RESUME keep their partial data (hidden .ft-part-*\n"
      "files) after a lost connection, for --partial-ttl.",
      "ftserve"};
  std::string root;
  std::string listen = "0.0.0.0:7070";
  app.add_option("--root", root, "directory to serve (must exist)")->required();
  app.add_option("--listen", listen,
                 "ADDR:PORT to listen on; [::]:7070 for IPv6; port 0 picks a free port")
      ->capture_default_str();
  std::string partial_ttl = "3d";
  app.add_option("--partial-ttl", partial_ttl,
                 "remove partial uploads (kept for resume) older than this: 90, 30s, 15m, 12h, 3d")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("ftserve ") + FT_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ft::Exit::kUsage);
  }

  std::string why;
  auto address = ft::parse_listen(listen, why);
  if (!address) {
    std::fprintf(stderr, "ftserve: --listen %s: %s\n", listen.c_str(), why.c_str());
    return static_cast<int>(ft::Exit::kUsage);
  }
  auto ttl = ft::parse_duration(partial_ttl);
  if (!ttl) {
    std::fprintf(stderr, "ftserve: --partial-ttl %s: expected a duration like 30s, 15m, 12h, 3d\n",
                 partial_ttl.c_str());
    return static_cast<int>(ft::Exit::kUsage);
  }
  int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    std::fprintf(stderr, "ftserve: --root %s: %s\n", root.c_str(), std::strerror(errno));
    return 3;
  }

  uv_loop_t* loop = uv_default_loop();
  int exit_code = 0;
  {
    ft::server::Server server(loop, ft::server::Fd(root_fd));
    std::string bound;
    server.start_partial_cleanup(*ttl);
    if (int rc = server.listen(*address, bound); rc != 0) {
      std::fprintf(stderr, "ftserve: cannot listen on %s: %s\n", listen.c_str(), uv_strerror(rc));
      server.stop();
      exit_code = 4;
    } else {
      std::fprintf(stderr, "ftserve: serving %s without authentication or encryption (open mode)\n",
                   root.c_str());
      std::printf("listening on %s\n", bound.c_str());
      std::fflush(stdout);
    }
    uv_run(loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(loop);
  return exit_code;
}
