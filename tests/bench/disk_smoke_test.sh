#!/usr/bin/env bash
# scripts/benchlib/disk.sh, the file system of scripts/bench --disk,
# without the bench: it comes up as a journaled ext4 on a loop device,
# takes a file and a sync, and is gone afterwards (mount, loop device and
# backing file). Skipped (77) when not root, without a loop device, or
# with too little room in /var/tmp.
#   usage: disk_smoke_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
# shellcheck source=scripts/benchlib/disk.sh
source scripts/benchlib/disk.sh
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
((EUID == 0)) || { echo "skipped: not root"; exit 77; }
[[ -e /dev/loop-control ]] || { echo "skipped: no /dev/loop-control"; exit 77; }
for tool in losetup mkfs.ext4 dumpe2fs; do
  command -v "$tool" >/dev/null || { echo "skipped: no $tool"; exit 77; }
done
parent=$(mktemp -d /var/tmp/ft-disk-smoke.XXXXXX)
trap 'disk_fs_down; rm -rf "$parent"' EXIT
# In this shell, not in $(...): the globals it sets are the rows'.
if ! disk_fs_up "$parent" >"$parent.out" 2>&1; then
  out=$(cat "$parent.out")
  rm -f "$parent.out"
  case $out in
    *"GiB free"*) echo "skipped: $out"; exit 77 ;;
  esac
  fail "disk_fs_up: $out"
fi
rm -f "$parent.out"
image=$disk_image loop=$disk_loop mount_point=$disk_mount

[[ $(findmnt -n -o FSTYPE "$mount_point") == ext4 ]] || fail "not ext4 at $mount_point"
[[ $(findmnt -n -o SOURCE "$mount_point") == "$loop" ]] || fail "not mounted from $loop"
dumpe2fs -h "$loop" 2>/dev/null | grep -q 'has_journal' || fail "no journal"
head -c 1048576 /dev/urandom >"$mount_point/probe"
sync -f "$mount_point/probe"
[[ $(stat -c %s "$mount_point/probe") == 1048576 ]] || fail "the probe file is not whole"

disk_fs_down
! findmnt -n "$mount_point" >/dev/null || fail "still mounted: $mount_point"
! losetup -a | grep -qF "$image" || fail "loop device left: $(losetup -a | grep -F "$image")"
[[ ! -e $image ]] || fail "backing file left: $image"
[[ ! -e $mount_point ]] || fail "mount point left: $mount_point"
echo "ok: ext4 with a journal on $loop, removed"
