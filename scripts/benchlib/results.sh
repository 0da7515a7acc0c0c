# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# The results table, run_rows (every selected row at one location) and
# the listing row.

# --- the results table ---------------------------------------------------------
# Every row's medians, in the order measured, for the table at the end.
results=()
record_result() {
  local row=$1 tool=$2 median=$3 unit=$4 runs_list=${5:-}
  results+=("$row|$tool|$median|$unit|$runs_list")
}

# Prints the medians as a Markdown table (what docs/performance.md holds).
print_results_table() {
  ((${#results[@]})) || return 0
  local line row tool median unit runs_list
  printf '\n| row | tool | median | unit | runs |\n|---|---|---:|---|---|\n'
  for line in "${results[@]}"; do
    IFS='|' read -r row tool median unit runs_list <<<"$line"
    printf '| %s | %s | %s | %s | %s |\n' "$row" "$tool" "$median" "$unit" "$runs_list"
  done
}

# Median of a space-separated list of seconds, with three decimals.
median_seconds() {
  # shellcheck disable=SC2086  # a space-separated list of numbers
  printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Runs the selected rows with their files under BASE (LOCATION: tmpfs, disk).
run_rows() {
  location=$1
  local base=$2
  mkdir -p "$base"
  if row_selected big; then
    section "big: $location, $base"
    run_big_suite "$location" "$base/big"
  fi
  if row_selected text; then
    section "text: $location, $base"
    echo "creating ${size_mib} MiB of text"
    make_text_file "$base/text.txt" "$size_mib"
    run_big_suite "$location" "$base/text" text "$base/text.txt"
    rm -f "$base/text.txt"
  fi
  if row_selected delta-big; then
    section "delta-big: $location, $base"
    run_delta_big_row "$base/delta-big"
  fi
  if row_selected bwlimit; then
    section "bwlimit: $location, $base"
    run_bwlimit_row "$base/bwlimit"
  fi
  if row_selected small || row_selected noop || row_selected small-down; then
    tree_source=$base/small-src/small-tree
    echo
    echo "creating $((small_dirs * small_files_per_dir)) random files of $small_file_bytes bytes in $small_dirs directories"
    make_small_tree "$tree_source"
    sync
    if row_selected small; then
      section "small: $location, $base"
      # Issue 15: 1.5x the daemon on tmpfs; on disk, where ftsend's every
      # file is durable before its OK and rsync's is not, 1.0x.
      local up_factor=1.5
      [[ $location == disk ]] && up_factor=1
      run_tree_row small "$base/small" files/s "$((small_dirs * small_files_per_dir))" "$up_factor" \
        "$((small_dirs * small_files_per_dir)) files of $((small_file_bytes / 1024)) KiB in $small_dirs directories"
    fi
    if row_selected noop; then
      section "noop: $location, $base"
      run_noop_row "$base/noop"
    fi
    if row_selected small-down; then
      section "small-down: $location, $base"
      # Issue 15: 1.5x the daemon on tmpfs; on disk, where ftget syncs and
      # rsync does not, 1.0x.
      local down_factor=1.5
      [[ $location == disk ]] && down_factor=1
      run_tree_row small-down "$base/small-down" files/s "$((small_dirs * small_files_per_dir))" \
        "$down_factor" "$((small_dirs * small_files_per_dir)) files of $((small_file_bytes / 1024)) KiB downloaded" down
    fi
    rm -rf "$base/small-src" "$base/small" "$base/noop" "$base/small-down"
  fi
  if row_selected medium || row_selected medium-down; then
    tree_source=$base/medium-src/medium-tree
    echo
    echo "creating $medium_files random files of $medium_file_mib MiB"
    make_medium_tree "$tree_source"
    sync
    if row_selected medium; then
      section "medium: $location, $base"
      run_tree_row medium "$base/medium" MiB/s "$((medium_files * medium_file_mib))" 1.5 \
        "$medium_files files of $medium_file_mib MiB in one directory"
    fi
    if row_selected medium-down; then
      section "medium-down: $location, $base"
      run_tree_row medium-down "$base/medium-down" MiB/s "$((medium_files * medium_file_mib))" 1.5 \
        "$medium_files files of $medium_file_mib MiB downloaded" down
    fi
    rm -rf "$base/medium-src" "$base/medium" "$base/medium-down"
  fi
  if row_selected huge || row_selected huge-down; then
    local huge_count=$((huge_dirs * huge_files_per_dir))
    tree_source=$base/huge-src/huge-tree
    echo
    echo "creating $huge_count random files of $small_file_bytes bytes in $huge_dirs directories"
    make_small_tree "$tree_source" "$huge_dirs" "$huge_files_per_dir"
    sync
    if row_selected huge; then
      section "huge: $location, $base"
      run_tree_row huge "$base/huge" files/s "$huge_count" 1.5 \
        "$huge_count files of $((small_file_bytes / 1024)) KiB in $huge_dirs directories"
    fi
    if row_selected huge-down; then
      section "huge-down: $location, $base"
      run_tree_row huge-down "$base/huge-down" files/s "$huge_count" 1.5 \
        "$huge_count files of $((small_file_bytes / 1024)) KiB downloaded" down
    fi
    rm -rf "$base/huge-src" "$base/huge" "$base/huge-down"
  fi
  if row_selected listing; then
    section "listing: $location, $base"
    run_listing_row "$base/listing"
    rm -rf "$base/listing"
  fi
}

# The listing row: ftserve and the rsync daemon serve the same flat
# directory of listing_entries empty files; ftls and rsync --list-only list
# it, alternating, `runs` times (seconds, lower is better; the output goes
# to a file whose line count is checked once).
run_listing_row() {
  local base=$1 run tool start lines
  declare -A times=()
  mkdir -p "$base/ftroot"
  echo "creating a flat directory of $listing_entries empty files"
  make_flat_directory "$base/ftroot/flat" "$listing_entries"
  sync
  ftls_peak_kib=0
  start_ftserve "$base/ftroot" "$base/ftserve.out"
  start_rsyncd "$base/ftroot" "$base/rsyncd.conf"
  for ((run = 1; run <= runs; run++)); do
    for tool in ftls rsync; do
      case $tool in
        ftls)
          run_timed_client ftls_peak_kib "$bin/ftls" "127.0.0.1:$ftserve_port/flat" \
            >"$work/listing.out"
          ;;
        rsync)
          start=$(now)
          rsync --list-only "rsync://127.0.0.1:$rsyncd_port/bench/flat/" >"$work/listing.out"
          record_elapsed "$start"
          ;;
      esac
      if ((run == 1)); then
        lines=$(wc -l <"$work/listing.out")
        # rsync also lists "." itself.
        if ((lines < listing_entries || lines > listing_entries + 1)); then
          printf '\n!!!! %s listed %s lines, not %s: ABORTING !!!!\n' "$tool" "$lines" \
            "$listing_entries" >&2
          exit 1
        fi
      fi
      times[$tool]+="$(printf '%.3f' "$seconds") "
      printf '  run %d/%d %-7s %8.3f s\n' "$run" "$runs" "$tool" "$seconds"
    done
  done
  rm -f "$work/listing.out"
  stop_ftserve
  stop_process "$rsyncd_pid"
  local ft_median rsync_median
  ft_median=$(median_seconds "${times[ftls]}")
  rsync_median=$(median_seconds "${times[rsync]}")
  printf '\nlisting: %s, a flat directory of %d entries, %d runs (seconds):\n' "$location" \
    "$listing_entries" "$runs"
  printf '%-8s %-36s %10s %9s\n' tool runs median "rsync/ft"
  printf '%-8s %-36s %10s %9s\n' ftls "${times[ftls]% }" "$ft_median" \
    "$(ratio "$rsync_median" "$ft_median")"
  printf '%-8s %-36s %10s %9s\n' rsync "${times[rsync]% }" "$rsync_median" -
  printf 'peak RSS: ftserve %s MiB, ftls %s MiB (target: <= 32 MiB each)\n' \
    "$(kib_to_mib "$ftserve_peak_kib")" "$(kib_to_mib "$ftls_peak_kib")"
  # Seconds, lower is better: the ratio column reads rsync/ft on this line.
  summary+=("$(printf '%-12s %-6s %-7s %12s %12s %8s  %-8s %s' listing "$location" ftls \
    "$ft_median" "$rsync_median" "$(ratio "$rsync_median" "$ft_median")" "s, r/ft" \
    "RSS ftserve $(kib_to_mib "$ftserve_peak_kib") MiB, ftls $(kib_to_mib "$ftls_peak_kib") MiB")")
}
