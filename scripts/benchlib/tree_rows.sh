# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# The tree rows (small, medium, huge, their downloads) and the no-op row:
# ftsend -r / ftget -r against rsync -a (and scp -r).

# --- the tree rows: ftsend -r against rsync -a (and scp -r) ----------------

# True when this ftsend sends directory trees. Its --help is asked rather
# than its version so that a build from any commit answers correctly; note
# that --retries must not count as -r.
# The help is read whole first: `grep -q` stops at the first match, and with
# pipefail the SIGPIPE that ftsend then gets made the check fail at random.
ftsend_has_trees() {
  local help
  help=$("$bin/ftsend" --help 2>&1) || true
  grep -Eq -- '(^|[[:space:],])(-r|--recursive)([,[:space:]=]|$)' <<<"$help"
}

ftsend_has_json() {
  local help
  help=$("$bin/ftsend" --help 2>&1) || true
  grep -q -- '--json' <<<"$help"
}

# Fills DIR with the small tree: 100 directories of 100 files of 4 KiB of
# random bytes (split cuts one random stream per directory into the files);
# DIRS and FILES_PER_DIR make the huge tree the same way.
make_small_tree() {
  local dir=$1 dirs=${2:-$small_dirs} per_dir=${3:-$small_files_per_dir} index sub
  mkdir -p "$dir"
  for ((index = 0; index < dirs; index++)); do
    printf -v sub '%s/d%04d' "$dir" "$index"
    mkdir "$sub"
    head -c "$((per_dir * small_file_bytes))" /dev/urandom |
      (cd "$sub" && split -b "$small_file_bytes" -d -a 3 --additional-suffix=.bin - f)
  done
}

# Fills DIR with COUNT empty files (f0000000, ...): two system calls a file
# from one python3 process (touch through xargs took minutes).
make_flat_directory() {
  local dir=$1 count=$2
  mkdir -p "$dir"
  python3 - "$dir" "$count" <<'PY'
import os, sys
directory = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(int(sys.argv[2])):
    os.close(os.open(f"f{i:07d}", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=directory))
PY
}

# Fills DIR with the medium tree: 100 files of 10 MiB of random bytes.
make_medium_tree() {
  local dir=$1
  mkdir -p "$dir"
  head -c "$((medium_files * medium_file_mib * 1024 * 1024))" /dev/urandom |
    (cd "$dir" && split -b "${medium_file_mib}M" -d -a 3 --additional-suffix=.bin - f)
}

# One line per entry of the tree under DIR, sorted: path and type, and for
# files size, mode and (unless "no-times") the mtime in whole seconds.
tree_listing() {
  local dir=$1 times=${2:-times}
  (cd "$dir" && find . -mindepth 1 -printf '%P %y %s %m %T@\n') |
    awk -v times="$times" '{
      if ($2 != "f") { print $1, $2; next }
      split($5, t, "."); print $1, $2, $3, $4, (times == "times" ? t[1] : "-") }' |
    LC_ALL=C sort
}

# Checks that COPY holds exactly the tree_source: the same names and types,
# the same bytes in every file (diff -r), the same sizes and modes, and the
# same mtimes (except for scp, which keeps none without -p). A benchmark of a
# tool that loses or damages files would be meaningless: this aborts the run.
verify_tree() {
  local what=$1 copy=$2 times=${3:-times}
  local listing_source=$work/listing.source listing_copy=$work/listing.copy
  local problem=
  if [[ ! -d $copy ]]; then
    problem="$copy is not a directory"
  elif ! diff -r --no-dereference -q "$tree_source" "$copy" >"$work/diff.out" 2>&1; then
    problem="contents differ (diff -r):
$(head -n 20 "$work/diff.out")"
  else
    tree_listing "$tree_source" "$times" >"$listing_source"
    tree_listing "$copy" "$times" >"$listing_copy"
    if ! cmp -s "$listing_source" "$listing_copy"; then
      problem="names, sizes, modes or mtimes differ (source <, copy >):
$(diff "$listing_source" "$listing_copy" | head -n 20)"
    fi
  fi
  if [[ -n $problem ]]; then
    printf '\n!!!! %s: %s does not match %s: ABORTING !!!!\n%s\n' "$what" "$copy" \
      "$tree_source" "$problem" >&2
    exit 1
  fi
}

# Amount of work per second, for a row's unit.
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }

# Prints whether a median meets its target: MEDIAN >= FACTOR x REFERENCE.
target_verdict() {
  awk -v m="$1" -v f="$2" -v r="$3" 'BEGIN { print (r > 0 && m >= f * r) ? "met" : "NOT met" }'
}

# The final table: one line per row and location, ft against rsync's
# daemon in the same run (tools alternating), and what the target says.
summary=()
declare -A medians=()
add_summary() {
  local row=$1 tool=$2 ft=$3 rsync=$4 unit=$5 verdict=$6
  summary+=("$(printf '%-12s %-6s %-7s %12s %12s %8s  %-8s %s' "$row" "$location" "$tool" "$ft" \
    "$rsync" "$(ratio "$ft" "$rsync")" "$unit" "$verdict")")
}

# Starts the servers of one tree row: ftserve on ROOT, rsyncd on RSYNC_DIR.
start_tree_servers() {
  local base=$1
  mkdir -p "$base/ftroot" "$base/rsync" "$base/scp"
  start_ftserve "$base/ftroot" "$base/ftserve.out"
  if ((tree_with_keys)); then start_tls_ftserve "$base/ftroot" "$base"; fi
  start_rsyncd "$base/rsync" "$base/rsyncd.conf"
}

stop_tree_servers() {
  stop_ftserve
  if ((tree_with_keys)); then stop_process "$tls_pid"; fi
  stop_process "$rsyncd_pid"
}

# Where a tree row's copies land: "" (dst, got/TOOL, removed before each
# run) or, on disk, ".N" for run N (see run_tree_row).
dst_suffix=

# Copies tree_source with TOOL into a fresh destination "dst" and sets
# `seconds` and `landing`, the directory that should now equal the source.
# A failing ftsend does not end the bench (the client is the thing under
# test, and the other rows still tell something): client_status says.
# ftsend -r DIR lands in REMOTE_DIR/DIR (like cp -r); rsync is given DIR/,
# which lands in dst itself; scp -r into a missing dst creates it.
copy_tree() {
  local tool=$1 base=$2 json_out=${3:-}
  local name=${tree_source##*/}
  case $tool in
    ftsend)
      landing=$base/ftroot/dst$dst_suffix/$name
      tolerate_failure=1
      if [[ -n $json_out ]]; then
        run_timed_client ftsend_peak_kib "$bin/ftsend" -r --json "$tree_source" \
          "$server_host:$ftserve_port/dst$dst_suffix" >"$json_out"
      else
        run_timed_client ftsend_peak_kib "$bin/ftsend" -q -r "$tree_source" \
          "$server_host:$ftserve_port/dst$dst_suffix"
      fi
      tolerate_failure=0
      ;;
    ftsend-tls)
      landing=$base/ftroot/dst-tls$dst_suffix/$name
      tolerate_failure=1
      local json_args=(-q)
      [[ -z $json_out ]] || json_args=(--json)
      run_timed_client ftsend_tls_peak_kib "$bin/ftsend" "${json_args[@]}" -r \
        --key-file "$tls_key_file" "$tree_source" "$server_host:$tls_port/dst-tls$dst_suffix" \
        >"${json_out:-/dev/null}"
      tolerate_failure=0
      ;;
    rsync | rsync+sync)
      landing=$(tree_destination "$tool" "$base")
      timed_rsync "$tool" "$tree_source/" \
        "rsync://$server_host:$rsyncd_port/bench/${landing#"$base/rsync/"}/"
      ;;
    scp)
      landing=$base/scp/dst
      local start
      start=$(now)
      scp -q -r -o BatchMode=yes "$tree_source" "root@127.0.0.1:$landing"
      record_elapsed "$start"
      ;;
  esac
}

# Downloads the tree the servers hold under src/ (a copy of tree_source)
# with TOOL into a fresh local directory and sets `seconds` and `landing`.
# ftget -r HOST/src/NAME DIR lands in DIR/NAME; rsync is given src/.
copy_tree_down() {
  local tool=$1 base=$2
  local name=${tree_source##*/}
  case $tool in
    ftget)
      landing=$base/got/ftget$dst_suffix/$name
      mkdir -p "$base/got/ftget$dst_suffix"
      tolerate_failure=1
      run_timed_client ftget_peak_kib "$bin/ftget" -q -r "$server_host:$ftserve_port/src/$name" \
        "$base/got/ftget$dst_suffix"
      tolerate_failure=0
      ;;
    rsync | rsync+sync)
      landing=$(tree_download_destination "$tool" "$base")
      timed_rsync "$tool" "rsync://$server_host:$rsyncd_port/bench/src/" "$landing/"
      ;;
  esac
}

# Times `rsync -a SOURCE DEST` into `seconds`; for TOOL rsync+sync a sync
# follows, in the time: what it costs rsync to promise what ft's OK
# promises (the copy, then a sync that puts it, and whatever else is
# dirty, on disk).
timed_rsync() {
  local tool=$1 source=$2 dest=$3 start
  start=$(now)
  rsync -a "$source" "$dest"
  if [[ $tool == rsync+sync ]]; then sync; fi
  record_elapsed "$start"
}

# The destination directory a tool's copy goes into (removed before each
# run, or on disk once the row is done).
tree_destination() {
  case $1 in
    ftsend) echo "$2/ftroot/dst$dst_suffix" ;;
    ftsend-tls) echo "$2/ftroot/dst-tls$dst_suffix" ;;
    rsync) echo "$2/rsync/dst$dst_suffix" ;;
    rsync+sync) echo "$2/rsync/dst-sync$dst_suffix" ;;
    scp) echo "$2/scp/dst$dst_suffix" ;;
  esac
}

# The same for the download rows: the local directory.
tree_download_destination() {
  local tool=$1
  [[ $tool == rsync+sync ]] && tool="rsync-sync"
  echo "$2/got/$tool$dst_suffix"
}

# The tools of a tree row, ftsend only when it sends trees.
tree_tools() {
  tools=()
  ((ft_trees)) && tools+=(ftsend)
  ((ft_trees && tree_with_keys)) && tools+=(ftsend-tls)
  tools+=(rsync)
  if [[ $location == tmpfs ]] && ((with_scp)); then tools+=(scp); fi
  return 0
}

# One fresh-copy row (small or medium): every tool copies tree_source into an
# empty destination, alternating, `runs` times; prints per-run rates, the
# median and the ratio to rsync. AMOUNT is what a second's worth is counted
# in (a file count for files/s, MiB for MiB/s); FACTOR is the target ratio of
# ftsend to rsync.
# DIRECTION "down" makes it a download row: the servers are given the tree
# first (not timed), then ftget -r and rsync -a fetch it.
run_tree_row() {
  local row=$1 base=$2 unit=$3 amount=$4 factor=$5 description=$6 direction=${7:-up}
  local tools tool run rate
  local ft_tool=ftsend
  if [[ $direction == down ]]; then
    ft_tool=ftget
    tools=()
    ((ft_trees)) && tools+=(ftget)
    tools+=(rsync)
    # On disk, what rsync's restore costs once it is as durable as ftget's
    # (for comparison; no target).
    [[ $location == disk ]] && tools+=(rsync+sync)
  else
    tree_tools
    # Issue 15: rsync followed by sync, the way to make rsync's copy as
    # durable as ft's acknowledged one; timed together, alternating too.
    # The small row has a target against it; the medium row on disk shows
    # it for comparison.
    [[ $row == small || ($row == medium && $location == disk) ]] && tools+=(rsync+sync)
  fi
  declare -A rates=()
  ftsend_peak_kib=0
  ftget_peak_kib=0
  start_tree_servers "$base"
  if [[ $direction == down ]]; then
    mkdir -p "$base/ftroot/src" "$base/rsync/src"
    cp -a "$tree_source" "$base/ftroot/src/"
    cp -a "$tree_source/." "$base/rsync/src/"
    sync
  fi
  declare -A failed=()
  for ((run = 1 - warmup; run <= runs; run++)); do
    # On disk every run copies into a destination of its own, and the
    # copies are removed only once the row is done. Removing the previous
    # copy just before a run left thousands of inodes freed seconds
    # earlier, and ext4 without a journal (this bench's machine) skips an
    # inode freed in the last minute (fs/ext4/ialloc.c, recently_deleted)
    # by scanning past every such inode of the group on each create: the
    # run that followed paid a cost that grew with what the bench itself
    # had just deleted, and which tool paid most depended on where its
    # directories landed. The sync in reset_destination still runs before
    # every run of every tool.
    [[ $location == disk ]] && dst_suffix=.$run
    for tool in "${tools[@]}"; do
      [[ -z ${failed[$tool]:-} ]] || continue
      client_status=0
      if [[ $direction == down ]]; then
        reset_destination "$(tree_download_destination "$tool" "$base")"
        copy_tree_down "$tool" "$base"
      else
        reset_destination "$(tree_destination "$tool" "$base")"
        copy_tree "$tool" "$base"
      fi
      if ((client_status)); then
        failed[$tool]=$client_status
        printf '  run %d/%d %-7s FAILED (status %d): left out of this row\n' "$run" "$runs" \
          "$tool" "$client_status"
        continue
      fi
      if ((run == 1 - warmup)); then
        if [[ $tool == scp ]]; then verify_tree "$tool" "$landing" no-times; else verify_tree "$tool" "$landing"; fi
      fi
      rate=$(per_second "$amount" "$seconds")
      if ((run < 1)); then
        printf '  warm-up    %-10s %8.3f s  %10s %s (not counted)\n' "$tool" "$seconds" "$rate" "$unit"
        continue
      fi
      rates[$tool]+="$rate "
      printf '  run %d/%d %-10s %8.3f s  %10s %s\n' "$run" "$runs" "$tool" "$seconds" "$rate" "$unit"
    done
  done
  for ((run = 1 - warmup; run <= runs; run++)); do
    [[ $location == disk ]] && dst_suffix=.$run
    for tool in "${tools[@]}"; do
      reset_destination "$(tree_destination "$tool" "$base")" \
        "$(tree_download_destination "$tool" "$base")"
    done
  done
  dst_suffix=
  stop_tree_servers

  local rsync_median row_median synced_median=
  # shellcheck disable=SC2086  # the lists are space-separated numbers
  rsync_median=$(median ${rates[rsync]})
  # shellcheck disable=SC2086
  [[ -z ${rates[rsync+sync]:-} ]] || synced_median=$(median ${rates[rsync+sync]})
  printf '\n%s: %s, %s, %d runs (%s):\n' "$row" "$location" "$description" "$runs" "$unit"
  printf '%-10s %-36s %10s %9s' tool runs median "vs rsync"
  [[ -z $synced_median ]] && echo || printf ' %12s\n' "vs rsync+sync"
  for tool in "${tools[@]}"; do
    if [[ -n ${failed[$tool]:-} ]]; then
      printf '%-10s FAILED (status %s), see above\n' "$tool" "${failed[$tool]}"
      continue
    fi
    # shellcheck disable=SC2086
    row_median=$(median ${rates[$tool]})
    printf '%-10s %-36s %10s %9s' "$tool" "${rates[$tool]% }" "$row_median" \
      "$(ratio "$row_median" "$rsync_median")"
    [[ -z $synced_median ]] && echo || printf ' %12s\n' "$(ratio "$row_median" "$synced_median")"
    record_result "$row" "$tool" "$row_median" "$unit" "${rates[$tool]% }"
  done
  if ((ft_trees)) && [[ -z ${failed[$ft_tool]:-} ]]; then
    # shellcheck disable=SC2086
    row_median=$(median ${rates[$ft_tool]})
    printf 'target: %s >= %sx rsync %s: %s\n' "$ft_tool" "$factor" "$unit" \
      "$(target_verdict "$row_median" "$factor" "$rsync_median")"
    medians[$row/$location]=$row_median
    add_summary "$row" "$ft_tool" "$row_median" "$rsync_median" "$unit" \
      ">= ${factor}x: $(target_verdict "$row_median" "$factor" "$rsync_median")"
    if [[ -n $synced_median && $location == disk && $row == small ]]; then
      # Issue 15: on disk ft (durable per file) at least 3x rsync+sync.
      printf 'target: %s >= 3x rsync+sync %s: %s\n' "$ft_tool" "$unit" \
        "$(target_verdict "$row_median" 3 "$synced_median")"
      add_summary "$row" "$ft_tool" "$row_median" "$synced_median" "$unit" \
        ">= 3x rsync+sync: $(target_verdict "$row_median" 3 "$synced_median")"
    elif [[ -n $synced_median ]]; then
      add_summary "$row" "$ft_tool" "$row_median" "$synced_median" "$unit" "vs rsync+sync, no target"
    fi
    local client_peak=$ftsend_peak_kib
    [[ $ft_tool == ftget ]] && client_peak=$ftget_peak_kib
    printf 'peak RSS: ftserve %s MiB, %s %s MiB\n' "$(kib_to_mib "$ftserve_peak_kib")" \
      "$ft_tool" "$(kib_to_mib "$client_peak")"
  elif ((!ft_trees)); then
    echo "ftsend -r: not available yet"
  fi
  if [[ $location == tmpfs ]] && ((!with_scp)); then echo "scp: skipped (no sshd set up)"; fi
}

# Reads KEY's value out of the summary line of an `ftsend --json` output
# (KEY is a jq path: `files // .files_sent` also reads an older ftsend's).
summary_value() {
  grep '"event":"summary"' "$2" | tail -n 1 | jq -r ".$1"
}

# The no-op row: the destination already holds tree_source; every tool runs
# again with nothing to do, `runs` times, alternating. Prints seconds per
# run and the median. ftsend's JSON summary must say it sent nothing.
run_noop_row() {
  local base=$1 tools tool run
  tree_tools
  declare -A times=() failed=()
  ftsend_peak_kib=0
  start_tree_servers "$base"
  local json_out=
  if ((ft_trees)) && ftsend_has_json; then json_out=$work/noop.json; fi
  # Prime every destination with a full copy (not timed) and check it. scp
  # has no notion of "unchanged" (a second run copies everything again), so
  # it has no no-op run and is left out of this row.
  for tool in "${tools[@]}"; do
    [[ $tool != scp ]] || continue
    reset_destination "$(tree_destination "$tool" "$base")"
    client_status=0
    copy_tree "$tool" "$base"
    if ((client_status)); then
      failed[$tool]=$client_status
      printf '  first copy %-7s FAILED (status %d): left out of this row\n' "$tool" "$client_status"
      continue
    fi
    verify_tree "$tool" "$landing"
  done
  for ((run = 1; run <= runs; run++)); do
    for tool in "${tools[@]}"; do
      [[ $tool != scp && -z ${failed[$tool]:-} ]] || continue
      client_status=0
      copy_tree "$tool" "$base" "$json_out"
      if ((client_status)); then
        failed[$tool]=$client_status
        printf '  run %d/%d %-7s FAILED (status %d): left out of this row\n' "$run" "$runs" \
          "$tool" "$client_status"
        continue
      fi
      times[$tool]+="$(printf '%.3f' "$seconds") "
      printf '  run %d/%d %-7s %8.3f s\n' "$run" "$runs" "$tool" "$seconds"
      if [[ $tool == ftsend* && -n $json_out ]]; then
        local sent skipped
        sent=$(summary_value 'files // .files_sent' "$json_out")
        skipped=$(summary_value 'skipped // .files_skipped' "$json_out")
        if [[ $sent != 0 ]]; then
          printf '\n!!!! %s -r re-sent %s unchanged files (skipped %s): ABORTING !!!!\n' \
            "$tool" "$sent" "$skipped" >&2
          exit 1
        fi
      fi
    done
  done
  # The no-op runs must have left the copies as they were.
  for tool in "${tools[@]}"; do
    [[ $tool != scp && -z ${failed[$tool]:-} ]] || continue
    case $tool in
      ftsend) verify_tree "ftsend (after the no-op runs)" "$base/ftroot/dst/${tree_source##*/}" ;;
      ftsend-tls)
        verify_tree "ftsend-tls (after the no-op runs)" "$base/ftroot/dst-tls/${tree_source##*/}"
        ;;
      rsync) verify_tree "rsync (after the no-op runs)" "$base/rsync/dst" ;;
    esac
  done
  for tool in "${tools[@]}"; do reset_destination "$(tree_destination "$tool" "$base")"; done
  stop_tree_servers

  local ft_median rsync_median
  printf '\nnoop: %s, second run onto an up-to-date copy of %d files, %d runs (seconds):\n' \
    "$location" "$((small_dirs * small_files_per_dir))" "$runs"
  # Lower is better here; "rsync/ft" is how many times faster ftsend is.
  printf '%-8s %-36s %10s %9s\n' tool runs median "rsync/ft"
  rsync_median=$(median_seconds "${times[rsync]}")
  if ((!ft_trees)); then
    echo "ftsend -r: not available yet"
  elif [[ -n ${failed[ftsend]:-} ]]; then
    printf '%-8s FAILED (status %s), see above\n' ftsend "${failed[ftsend]}"
  else
    ft_median=$(median_seconds "${times[ftsend]}")
    printf '%-8s %-36s %10s %9s\n' ftsend "${times[ftsend]% }" "$ft_median" \
      "$(ratio "$rsync_median" "$ft_median")"
    record_result noop ftsend "$ft_median" s "${times[ftsend]% }"
    if [[ -n ${times[ftsend-tls]:-} ]]; then
      local tls_median
      tls_median=$(median_seconds "${times[ftsend-tls]}")
      printf '%-8s %-36s %10s %9s\n' ftsend-tls "${times[ftsend-tls]% }" "$tls_median" \
        "$(ratio "$rsync_median" "$tls_median")"
      record_result noop ftsend-tls "$tls_median" s "${times[ftsend-tls]% }"
    fi
  fi
  printf '%-8s %-36s %10s %9s\n' rsync "${times[rsync]% }" "$rsync_median" -
  record_result noop rsync "$rsync_median" s "${times[rsync]% }"
  if ((ft_trees)) && [[ -z ${failed[ftsend]:-} ]]; then
    printf 'target: ftsend well under a second (< 0.5 s): %s\n' \
      "$(awk -v m="$ft_median" 'BEGIN { print (m < 0.5) ? "met" : "NOT met" }')"
    [[ -n $json_out ]] || echo "(ftsend has no --json: that it skipped every file is unchecked)"
  fi
}
