# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# The file system of the --disk rows.
#
# By default the disk rows run on an ext4 file system of the bench's own,
# made fresh for each bench as Debian's installer makes one (mkfs.ext4's
# defaults: a journal, dir_index), on a loop device whose backing file lies
# in /var/tmp, on the machine's disk. The loop device does direct I/O: the
# backing file's page cache is not a second cache, and a flush (fsync,
# syncfs) reaches the disk.
#
# Why not /var/tmp itself: this machine's root file system is ext4 *without*
# a journal, where creating a file skips every inode freed in the last 60 s
# (fs/ext4/ialloc.c, recently_deleted(); longer while the inode table block
# is dirty) by looking each one up. After a bench or a test freed tens of
# thousands of inodes, `cp -a` of 10,000 files of 4 KiB took 4-8 s of
# system time (perf: recently_deleted and find_get_block_common, 60 % of
# its samples) instead of 0.25 s, for minutes, for every tool alike, and
# by how much depended on where each tool's directories landed: disk rows
# swung 10x from run to run (docs/performance.md). A fresh file system
# holds nothing the bench did not put there, and a journal, which Debian's
# ext4 has, skips that check. --disk-dir DIR still runs the rows in DIR.

disk_image=
disk_loop=
disk_mount=

# Makes the file system in PARENT (a file of up to 64 GiB, sparse: it takes
# what the rows write) and mounts it; sets disk_mount. Prints why not and
# fails where it cannot (not root, no loop device, too little room).
disk_fs_up() {
  local parent=$1 free_gib size_gib
  if ((EUID != 0)); then
    echo "a file system of the bench's own needs root (losetup, mount)"
    return 1
  fi
  free_gib=$(df --output=avail -BG "$parent" | tail -n 1 | tr -dc 0-9)
  size_gib=$((free_gib - 8))
  ((size_gib <= 64)) || size_gib=64
  if ((size_gib < 16)); then
    echo "$parent has ${free_gib} GiB free; the disk rows' file system wants 24"
    return 1
  fi
  disk_image=$(mktemp "$parent/ft-bench-disk.XXXXXX")
  truncate -s "${size_gib}G" "$disk_image"
  # Inodes for the listing row's 1,000,000 files twice over, whatever the
  # size (the default ratio gives a 16 GiB file system 1,048,576).
  mkfs.ext4 -q -F -N 4194304 "$disk_image" || return 1
  disk_loop=$(losetup --find --show --direct-io=on "$disk_image" 2>/dev/null) ||
    disk_loop=$(losetup --find --show "$disk_image") || return 1
  disk_mount=$(mktemp -d "$parent/ft-bench-mnt.XXXXXX")
  # noinit_itable: the inode tables of a fresh sparse file read as zeros
  # already; without it a kernel thread writes them during the rows.
  mount -o noinit_itable "$disk_loop" "$disk_mount" || return 1
  printf 'disk: a fresh ext4 (journal) of %s GiB on %s (direct I/O %s), backed by %s\n' \
    "$size_gib" "$disk_loop" "$(cat "/sys/block/${disk_loop#/dev/}/loop/dio" 2>/dev/null || echo ?)" \
    "$disk_image"
}

# Unmounts and removes it; called by cleanup(), after the processes that
# used it have ended.
disk_fs_down() {
  if [[ -n $disk_mount ]]; then
    umount "$disk_mount" 2>/dev/null || umount -l "$disk_mount" 2>/dev/null || true
    rmdir "$disk_mount" 2>/dev/null || true
  fi
  if [[ -n $disk_loop ]]; then losetup -d "$disk_loop" 2>/dev/null || true; fi
  if [[ -n $disk_image ]]; then rm -f "$disk_image"; fi
  disk_mount="" disk_loop="" disk_image=""
}
