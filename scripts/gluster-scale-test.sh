#!/usr/bin/env bash
# Runs the scale-out tests (tests/integration/scale_out_test.cpp and the
# shared-root tests of balancer_test.cpp) on a real distributed file
# system: a single-node GlusterFS volume, made here and removed again
# (docs/scale-out.md). glusterd runs in the foreground of no service
# manager (these machines have no systemd as PID 1); the volume is mounted
# through FUSE.
#   usage: bash scripts/gluster-scale-test.sh BUILD_DIR
# Exits 77 (ctest: skipped) saying why when GlusterFS cannot run here.
# Environment (optional): FT_GLUSTER_BRICKS, where bricks are made
# (default /srv/ft-gluster: not a tmpfs, bricks need trusted.* xattrs).
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
tests="$build/tests/integration/ft_scale_tests"

skip() {
  echo "SKIPPED: $*"
  exit 77
}

command -v glusterd >/dev/null || skip "glusterd is not installed (apt-get install glusterfs-server)"
command -v gluster >/dev/null || skip "the gluster CLI is not installed"
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: no FUSE mount possible"
[[ -x "$tests" ]] || skip "$tests is not built"

volume="ft$$"
bricks=${FT_GLUSTER_BRICKS:-/srv/ft-gluster}
brick="$bricks/$volume"
mnt=$(mktemp -d "${TMPDIR:-/tmp}/ft-gluster-mnt.XXXXXX")
started_glusterd=""
mounted=""
created=""

cleanup() {
  [[ -n "$mounted" ]] && umount "$mnt" 2>/dev/null
  if [[ -n "$created" ]]; then
    gluster --mode=script volume stop "$volume" force >/dev/null 2>&1
    gluster --mode=script volume delete "$volume" >/dev/null 2>&1
  fi
  # Only the glusterd this script started, by its own pid.
  if [[ -n "$started_glusterd" ]]; then
    kill "$started_glusterd" 2>/dev/null
    wait "$started_glusterd" 2>/dev/null
  fi
  rm -rf "$brick"
  rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT

# One glusterd per machine (its state is /var/lib/glusterd, its port 24007):
# use the one running, else run our own.
if ! gluster --mode=script pool list >/dev/null 2>&1; then
  glusterd -N --log-file="${TMPDIR:-/tmp}/ft-glusterd-$$.log" &
  started_glusterd=$!
  for _ in $(seq 1 100); do
    gluster --mode=script pool list >/dev/null 2>&1 && break
    sleep 0.1
  done
  gluster --mode=script pool list >/dev/null 2>&1 || skip "glusterd did not start (log: ${TMPDIR:-/tmp}/ft-glusterd-$$.log)"
fi

mkdir -p "$brick"
# 127.0.0.2: Gluster refuses 127.0.0.1 and localhost for a brick, and only
# loopback addresses are ours to use. 'force': a brick on the root file system.
out=$(gluster --mode=script volume create "$volume" "127.0.0.2:$brick/b" force 2>&1) ||
  skip "volume create failed: $out"
created=1
out=$(gluster --mode=script volume start "$volume" 2>&1) || skip "volume start failed: $out"
out=$(timeout 60 mount -t glusterfs "127.0.0.2:/$volume" "$mnt" 2>&1) ||
  skip "mount -t glusterfs failed: $out"
mounted=1
mount | grep -q " $mnt type fuse.glusterfs" || skip "the volume did not mount at $mnt"

echo "GlusterFS volume $volume mounted at $mnt"
FT_SCALE_ROOT="$mnt" "$tests" --gtest_filter='ScaleOutTest.*:SharedRootTest.*'
