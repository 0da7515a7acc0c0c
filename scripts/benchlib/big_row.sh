# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# The one-file rows (big, text): every tool, alternating, on one file.

# --- the big row: every tool, alternating, on one file under BASE -----------
# Prints a table of MiB/s per run, the median, and ratios to socat and rsync.
# ROW and FILE make it another one-file row (text: the text file).
run_big_suite() {
  local label=$1 base=$2 row=${3:-big} file=${4:-$random_file}
  local src_dir=$base/src root=$base/ftroot socat_dest=$base/socat.out
  local get_dir=$base/get rsync_dir=$base/rsync scp_dir=$base/scp
  mkdir -p "$src_dir" "$root/up" "$root/down" "$get_dir" "$rsync_dir" "$scp_dir"
  # The source is a copy of the random file on the suite's own filesystem;
  # ftget downloads a hard link to it, which costs no space.
  source_file=$src_dir/data.bin
  cp "$file" "$source_file"
  ln "$source_file" "$root/down/data.bin"
  sync

  local tools=(socat ftsend ftget rsync)
  local with_tls=0
  if ftserve_has_keys; then
    with_tls=1
    tools=(socat ftsend ftsend-tls ftget ftget-tls rsync)
  fi
  if ((ft_compress)); then
    # Compressed transfers, for what they gain on text and lose on random.
    tools+=(ftsend-z ftget-z)
  fi
  if [[ $label == tmpfs ]] && ((with_scp)); then
    tools+=(scp)
  fi
  ftsend_peak_kib=0
  ftget_peak_kib=0
  ftsend_tls_peak_kib=0
  ftget_tls_peak_kib=0
  ftsend_z_peak_kib=0
  ftget_z_peak_kib=0

  start_ftserve "$root" "$base/ftserve.out"
  if ((with_tls)); then
    start_tls_ftserve "$root" "$base"
  fi
  if ((ft_compress)); then
    # The -z rows have an ftserve of their own, so that the zstd contexts
    # they make (one per pool thread) do not count in the plain rows' peak.
    start_z_ftserve "$root" "$base"
  fi
  start_rsyncd "$rsync_dir" "$base/rsyncd.conf"

  declare -A speeds=() cpu_seconds=()
  local run tool output busy_start cpu
  for ((run = 1 - warmup; run <= runs; run++)); do
    for tool in "${tools[@]}"; do
      busy_start=$(busy_ticks)
      case $tool in
        socat) output=$socat_dest; run_socat "$output" ;;
        ftsend) output=$root/up/data.bin; run_ftsend ;;
        ftget) output=$get_dir/data.bin; run_ftget "$get_dir" ;;
        ftsend-tls) output=$root/up/data.bin; run_ftsend_tls ;;
        ftget-tls) output=$get_dir/data.bin; run_ftget_tls "$get_dir" ;;
        ftsend-z) output=$root/up/data.bin; run_ftsend_z ;;
        ftget-z) output=$get_dir/data.bin; run_ftget_z "$get_dir" ;;
        rsync) output=$rsync_dir/data.bin; run_rsync ;;
        scp) output=$scp_dir/data.bin; run_scp "$scp_dir" ;;
      esac
      cpu=$(cpu_seconds_since "$busy_start")
      # Checking the bytes once per tool is enough to trust the numbers, and
      # keeps cmp's own time out of the loop's rhythm.
      if ((run == 1 - warmup)); then
        verify_copy "$tool" "$output"
      fi
      reset_destination "$output"
      if ((run < 1)); then
        printf '  warm-up    %-10s %8.3f s  %8s MiB/s (not counted)\n' "$tool" "$seconds" \
          "$(mib_per_second "$seconds")"
        continue
      fi
      speeds[$tool]+="$(mib_per_second "$seconds") "
      cpu_seconds[$tool]+="$cpu "
      printf '  run %d/%d %-10s %8.3f s  %8s MiB/s  %5s CPU-s\n' "$run" "$runs" "$tool" \
        "$seconds" "$(mib_per_second "$seconds")" "$cpu"
    done
  done

  stop_ftserve
  if ((with_tls)); then
    tls_peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$tls_pid/status")
    stop_process "$tls_pid"
  fi
  if ((ft_compress)); then
    z_peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$z_pid/status")
    stop_process "$z_pid"
  fi
  stop_process "$rsyncd_pid"

  local socat_median rsync_median
  # shellcheck disable=SC2086  # the lists are space-separated numbers
  socat_median=$(median ${speeds[socat]})
  # shellcheck disable=SC2086
  rsync_median=$(median ${speeds[rsync]})

  printf '\n%s: %s, one %s file of %d MiB, %d runs (MiB/s):\n' "$row" "$label" \
    "$([[ $row == text ]] && echo text || echo random)" "$size_mib" "$runs"
  printf '%-10s %-30s %8s %9s %9s\n' tool runs median "vs socat" "vs rsync"
  local row_median
  for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086
    row_median=$(median ${speeds[$tool]})
    record_result "$row" "$tool" "$row_median" MiB/s "${speeds[$tool]% }"
    printf '%-10s %-30s %8s %9s %9s\n' "$tool" "${speeds[$tool]% }" "$row_median" \
      "$(ratio "$row_median" "$socat_median")" "$(ratio "$row_median" "$rsync_median")"
  done
  if [[ $label == tmpfs ]] && ((!with_scp)); then
    echo "scp: skipped (no sshd set up)"
  fi
  # What each run cost the machine, both ends together (issue 15 part 4:
  # where a tool is CPU-bound, its CPU-s over the cores is the least time
  # it can take here, whatever its threads do).
  local cores median_cpu
  cores=$(nproc)
  printf 'busy CPU per run, both ends (/proc/stat, medians), and that over %d cores:\n' "$cores"
  for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086
    median_cpu=$(median_decimals=2 median ${cpu_seconds[$tool]})
    printf '  %-10s %6s CPU-s  floor %6s s  %8s MiB/s at most\n' "$tool" "$median_cpu" \
      "$(awk -v c="$median_cpu" -v n="$cores" 'BEGIN { printf "%.3f", c / n }')" \
      "$(awk -v c="$median_cpu" -v n="$cores" -v mib="$size_mib" \
        'BEGIN { if (c > 0) printf "%.0f", mib * n / c; else print "-" }')"
  done
  printf 'peak RSS: ftserve %s MiB, ftsend %s MiB, ftget %s MiB\n' \
    "$(kib_to_mib "$ftserve_peak_kib")" "$(kib_to_mib "$ftsend_peak_kib")" \
    "$(kib_to_mib "$ftget_peak_kib")"
  if [[ $label == tmpfs && -z $link_rate && $row == big ]]; then
    # Issue 15 part 4: on tmpfs over loopback, each direction at least raw
    # socat's rate, checksums on.
    local direction
    for direction in ftsend ftget; do
      # shellcheck disable=SC2086
      printf 'target: %s >= 1x socat MiB/s: %s\n' "$direction" \
        "$(target_verdict "$(median ${speeds[$direction]})" 1 "$socat_median")"
    done
  fi
  if ((with_tls)); then
    # The cost of the channel: each TLS row against the plain ft row of the
    # same direction, medians of the same alternating runs.
    local direction plain_median tls_median
    printf 'TLS (ftserve --keys, --key-file) vs plain ft, medians; target >= 0.8x:\n'
    for direction in ftsend ftget; do
      # shellcheck disable=SC2086
      plain_median=$(median ${speeds[$direction]})
      # shellcheck disable=SC2086
      tls_median=$(median ${speeds[$direction-tls]})
      printf '  %-10s %8s MiB/s vs %8s MiB/s = %s (%s)\n' "$direction-tls" "$tls_median" \
        "$plain_median" "$(ratio "$tls_median" "$plain_median")" \
        "$(target_verdict "$tls_median" 0.8 "$plain_median")"
    done
    printf 'peak RSS with keys: ftserve %s MiB, ftsend %s MiB, ftget %s MiB\n' \
      "$(kib_to_mib "$tls_peak_kib")" "$(kib_to_mib "$ftsend_tls_peak_kib")" \
      "$(kib_to_mib "$ftget_tls_peak_kib")"
  fi
  if ((ft_compress)); then
    # What --compress gains (text: target >= 2.5x on the 1 GbE link) or
    # loses (random: within 3 %), against plain ft of the same direction.
    local direction plain_median z_median
    printf -- '--compress vs plain ft, medians:\n'
    for direction in ftsend ftget; do
      # shellcheck disable=SC2086
      plain_median=$(median ${speeds[$direction]})
      # shellcheck disable=SC2086
      z_median=$(median ${speeds[$direction-z]})
      printf '  %-10s %8s MiB/s vs %8s MiB/s = %s\n' "$direction-z" "$z_median" \
        "$plain_median" "$(ratio "$z_median" "$plain_median")"
    done
    printf 'peak RSS with --compress: ftserve %s MiB, ftsend %s MiB, ftget %s MiB\n' \
      "$(kib_to_mib "$z_peak_kib")" "$(kib_to_mib "$ftsend_z_peak_kib")" \
      "$(kib_to_mib "$ftget_z_peak_kib")"
  fi
  rm -rf "$src_dir" "$root"
}
