# shellcheck shell=bash disable=SC2034  # the package lists are used by the scripts that source this
# Shared helpers for scripts/run, scripts/test and scripts/bench.
# Sourced, not executed. Every script runs from the repository root.

# Build packages: the compiler, CMake + Ninja and the libraries ft links.
# libsystemd-dev: socket activation and sd_notify in ftserve, and sd-daemon.h's
# log level prefixes under journald; help2man makes the man pages from --help
# (dist/CMakeLists.txt); libzstd-dev: compressed chunks (chunk_compression).
FT_BUILD_PACKAGES=(cmake ninja-build pkg-config g++ libuv1-dev libxxhash-dev libcli11-dev
                   nlohmann-json3-dev libgtest-dev libssl-dev libsystemd-dev help2man python3
                   libzstd-dev)
# The .deb (scripts/package): cpack finds the ELF files with file(1) and
# their library dependencies with dpkg-shlibdeps (dpkg-dev); lintian checks
# the result.
FT_PACKAGE_PACKAGES=(dpkg-dev file lintian)
# The durability tests (tests/integration/durability_test.cpp): strace to see
# ftserve's syncs, an ext4 image on a loop device (e2fsprogs, mount, kmod for
# modprobe loop), and a FUSE file system whose fsync fails (libfuse3-dev
# builds tests/tools/ft_fail_fuse; fuse3 brings fusermount3 and its config).
# The crash tests (tests/integration/crash_test.cpp) need the same ext4
# tools: mkfs.ext4 and e2fsck (e2fsprogs), mount and umount with loop.
# The install, service and package tests (tests/package/): systemd for
# systemd-analyze and systemd-socket-activate, adduser for the package's
# postinst, util-linux's setpriv to run ftserve as the service's user,
# bash-completion to try the completion script, and what scripts/package
# needs. The metrics test (tests/integration/metrics_test.cpp) parses
# ftserve's Prometheus text with Prometheus's own Python client. rsync: the
# filter tests compare ft's --exclude/--include choice with what
# `rsync --dry-run` selects on the same tree.
FT_TEST_PACKAGES=(strace e2fsprogs mount kmod fuse3 libfuse3-dev systemd adduser util-linux
                  bash-completion python3-prometheus-client rsync "${FT_PACKAGE_PACKAGES[@]}")
# libFuzzer ships with clang's runtime libraries.
FT_FUZZ_PACKAGES=(clang libclang-rt-14-dev)
# The benchmark's comparison tools; `time` is GNU time, for peak RSS; jq reads
# ftsend's --json summary.
FT_BENCH_PACKAGES=(socat rsync procps time jq)
# scripts/bench --link and scripts/bench-delta: network namespaces and tc tbf
# (iproute2); bench-delta's table's ratios (bc).
FT_BENCH_PACKAGES+=(iproute2 bc)
# scripts/bench --disk: its own ext4 on a loop device (benchlib/disk.sh).
FT_BENCH_PACKAGES+=(e2fsprogs mount util-linux)
# tmux is the real terminal of tests/integration/terminal_test.cpp (the
# progress line as a person sees it, at 40 and 80 columns).
FT_TEST_PACKAGES+=(tmux)
# The smoke test of scripts/bench --link's emulated LAN (tests/bench/
# link_smoke_test.sh): ip netns, tc tbf and ss from iproute2, socat to carry
# bytes through it.
FT_TEST_PACKAGES+=(iproute2 socat)
# haproxy is the real load balancer of tests/integration/scale_out_test.cpp
# (three ftserve nodes on one root behind it, PROXY protocol v2, health
# checks, docs/scale-out.md). glusterfs-server: the same tests on a
# single-node GlusterFS volume mounted through FUSE
# (scripts/gluster-scale-test.sh; skipped where glusterd cannot run).
FT_TEST_PACKAGES+=(haproxy glusterfs-server)

# Prints a section header that stands out in a long CI log.
section() {
  printf '\n==== %s ====\n' "$*"
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Installs, with apt-get, those of the given Debian packages that are missing.
# dpkg is asked first so that the common case (all present) costs no network.
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$package")
    fi
  done
  ((${#missing[@]} == 0)) && return 0

  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo=(sudo)
  fi
  echo "installing missing packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures (if needed) and builds the Release programs in build-release/.
# The tests are not configured there: this build is what a user runs, and it
# should not depend on the test suites compiling.
build_release() {
  if [[ ! -f build-release/build.ninja ]]; then
    cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFT_TESTS=OFF
  fi
  # Ninja re-runs CMake by itself when a CMakeLists.txt changed.
  ninja -C build-release ftserve ftsend ftget ftls
}
