# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# The text, delta-big and bwlimit rows.

# --- the text and delta-big rows ----------------------------------------------

# Writes MIB MiB of log-like text to FILE: web and service log lines with
# random hosts, paths, codes and ids, which zstd -3 shrinks about 4x (real
# logs do 4-10x). 64 MiB are generated and repeated: no compressor here
# looks back 64 MiB, so the repetition does not flatter anyone.
make_text_file() {
  local file=$1 mib=$2 chunk_mib=64 done_mib=0
  ((chunk_mib <= mib)) || chunk_mib=$mib
  python3 - "$((chunk_mib * 1024 * 1024))" >"$file.chunk" <<'PY'
import random, sys, time
r = random.Random(14)
hosts = ["web-%02d" % i for i in range(24)]
services = ["nginx", "api", "auth", "worker", "cron", "postgres"]
paths = ["/api/v1/items", "/api/v1/users", "/static/app.js", "/login", "/api/v2/orders", "/health"]
levels = ["INFO"] * 8 + ["WARN", "ERROR"]
codes = [200] * 12 + [201, 204, 301, 304, 400, 403, 404, 500]
want, written, stamp, lines = int(sys.argv[1]), 0, 1796540000.0, []
while written < want:
    stamp += r.random() * 0.01
    line = "%s.%03dZ %s %s[%d]: %s %s %s/%d %d %d ms=%.1f ua=Mozilla/5.0 req=%08x\n" % (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)), int(stamp * 1000) % 1000,
        r.choice(hosts), r.choice(services), r.randrange(1000, 40000), r.choice(levels),
        r.choice(("GET", "GET", "GET", "POST", "PUT")), r.choice(paths), r.randrange(100000),
        r.choice(codes), r.randrange(200, 90000), r.random() * 300, r.getrandbits(32))
    lines.append(line)
    written += len(line)
    if len(lines) >= 10000:
        sys.stdout.write("".join(lines))
        lines = []
sys.stdout.write("".join(lines))
PY
  : >"$file"
  while ((done_mib < mib)); do
    head -c "$(((mib - done_mib < chunk_mib ? mib - done_mib : chunk_mib) * 1024 * 1024))" \
      "$file.chunk" >>"$file"
    done_mib=$((done_mib + chunk_mib))
  done
  rm -f "$file.chunk"
}

# The delta-big row (issue 14, part 2): a random file of --size-mib MiB is
# on the receiving side; the sender's version is that file with 4 KiB
# changed in the middle (inplace), then with 1 MiB inserted at the start
# (insert), then every byte new (rewritten: what trying a delta costs when
# nothing matches, against the full transfer's time). Upload: ftsend and rsync (daemon, --no-whole-file) send it onto
# the old copy on the server. Download: ftget and rsync (pulling from the
# daemon) fetch it onto an old local copy. Each against ft's full transfer
# of the same file onto nothing (full), in the same run; the receiving
# copy is reset to the old version (mtime 2020) before every run, outside
# the timing.
delta_peak_kib=0
run_delta_big_row() {
  local base=$1
  if ! ft_has_delta; then
    echo "delta-big: ft sends no deltas yet (issue 14, part 2): row not run"
    record_result delta-big ftsend - s "not available"
    return 0
  fi
  local root=$base/ftroot rsync_dir=$base/rsync get_dir=$base/get pull_dir=$base/pull
  mkdir -p "$root/up" "$root/down" "$rsync_dir/up" "$rsync_dir/down" "$get_dir" "$pull_dir"
  echo "creating the ${size_mib} MiB old version and its changed ones"
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$base/basis.bin"
  cp "$base/basis.bin" "$base/inplace.bin"
  dd if=/dev/urandom of="$base/inplace.bin" bs=4096 count=1 conv=notrunc status=none \
    seek="$((size_mib * 256 / 2))"
  { head -c $((1024 * 1024)) /dev/urandom; cat "$base/basis.bin"; } >"$base/insert.bin"
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$base/rewritten.bin"
  start_ftserve "$root" "$base/ftserve.out"
  start_rsyncd "$rsync_dir" "$base/rsyncd.conf"
  local -A times=()
  local run case tool dest file start
  local tools=(ftsend-full ftsend-inplace rsync-inplace ftsend-insert rsync-insert
    ftsend-rewritten ftget-full ftget-inplace rsync-pull-inplace ftget-insert
    rsync-pull-insert ftget-rewritten)
  for ((run = 1; run <= runs; run++)); do
    for tool in "${tools[@]}"; do
      case=${tool##*-}
      file=$base/$case.bin
      [[ $case == full ]] && file=$base/inplace.bin
      case $tool in
        ftsend-*) dest=$root/up/big.bin ;;
        rsync-inplace | rsync-insert) dest=$rsync_dir/up/big.bin ;;
        ftget-*) dest=$get_dir/big.bin ;;
        rsync-pull-*) dest=$pull_dir/big.bin ;;
      esac
      rm -f "$dest"
      if [[ $case != full ]]; then
        cp "$base/basis.bin" "$dest"
        touch -d 2020-01-01 "$dest"
      fi
      # The sender's side of a download: the new version on the server.
      case $tool in
        ftget-*) cp "$file" "$root/down/big.bin" ;;
        rsync-pull-*) cp "$file" "$rsync_dir/down/big.bin" ;;
      esac
      sync
      start=$(now)
      case $tool in
        ftsend-*)
          cp "$file" "$base/big.bin"
          start=$(now)
          run_timed_client delta_peak_kib "$bin/ftsend" -q "$base/big.bin" \
            "$server_host:$ftserve_port/up/"
          ;;
        rsync-inplace | rsync-insert)
          cp "$file" "$base/big.bin"
          start=$(now)
          rsync --no-whole-file -t "$base/big.bin" "rsync://$server_host:$rsyncd_port/bench/up/"
          record_elapsed "$start"
          ;;
        ftget-*)
          run_timed_client delta_peak_kib "$bin/ftget" -q "$server_host:$ftserve_port/down/big.bin" \
            "$get_dir"
          ;;
        rsync-pull-*)
          rsync --no-whole-file -t "rsync://$server_host:$rsyncd_port/bench/down/big.bin" "$pull_dir/"
          record_elapsed "$start"
          ;;
      esac
      if ! cmp -s "$file" "$dest"; then
        printf '\n!!!! delta-big: %s delivered wrong bytes: ABORTING !!!!\n' "$tool" >&2
        exit 1
      fi
      times[$tool]+="$seconds "
      printf 'run %d: %-20s %8.3f s\n' "$run" "$tool" "$seconds"
    done
  done
  stop_process "$rsyncd_pid"
  stop_ftserve
  local up_full down_full median
  up_full=$(median_seconds "${times[ftsend-full]}")
  down_full=$(median_seconds "${times[ftget-full]}")
  echo
  printf '| %-20s | %9s | %10s |\n' tool "median s" "x ft full"
  printf '|%s|\n' "----------------------|-----------|------------"
  for tool in "${tools[@]}"; do
    median=$(median_seconds "${times[$tool]}")
    local full=$up_full
    [[ $tool == ftget-* || $tool == rsync-pull-* ]] && full=$down_full
    printf '| %-20s | %9s | %10s |\n' "$tool" "$median" "$(ratio "$median" "$full")"
    record_result delta-big "$tool" "$median" s "${times[$tool]% }"
  done
  rm -f "$base/basis.bin" "$base/inplace.bin" "$base/insert.bin" "$base/rewritten.bin" \
    "$base/big.bin"
}

# True when this ftsend sends deltas onto an older copy (its --help names
# an option for it).
ft_has_delta() {
  local help
  help=$("$bin/ftsend" --help 2>&1) || true
  grep -q -- '--delta' <<<"$help"
}

# True when this ftsend compresses (--compress in its --help).
ft_has_compress() {
  local help
  help=$("$bin/ftsend" --help 2>&1) || true
  grep -q -- '--compress' <<<"$help"
}

# The bwlimit row: 10 MiB/s held for 30 s (300 MiB) by each of ftsend
# --bwlimit, ftget --bwlimit, ftserve --bwlimit (an upload) and ftserve
# --bwlimit-per-identity (a download with a key); the rate is the bytes over
# the wall time, against the limit (target: within 5 %).
run_bwlimit_row() {
  local base=$1 limit=10M limit_bytes=$((10 * 1024 * 1024)) mib=300 tool start
  mkdir -p "$base/root/down" "$base/src" "$base/got"
  source_file=$base/src/data.bin
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$source_file"
  ln "$source_file" "$base/root/down/data.bin"
  local saved_mib=$size_mib
  size_mib=$mib
  printf '\nbwlimit: %s, %d MiB at --bwlimit %s (%d B/s):\n' "$location" "$mib" "$limit" \
    "$limit_bytes"
  printf '%-28s %10s %10s %9s\n' how seconds MiB/s "vs limit"
  for tool in ftsend ftget ftserve-up ftserve-identity-down; do
    case $tool in
      ftsend | ftget) start_ftserve "$base/root" "$base/ftserve.out" ;;
      ftserve-up) start_ftserve "$base/root" "$base/ftserve.out" --bwlimit "$limit" ;;
      ftserve-identity-down)
        start_tls_ftserve "$base/root" "$base"
        stop_process "$tls_pid"
        start_ftserve "$base/root" "$base/ftserve.out" --keys "$base/keys" \
          --bwlimit-per-identity "$limit"
        ;;
    esac
    start=$(now)
    case $tool in
      ftsend) "$bin/ftsend" -q --bwlimit "$limit" "$source_file" "$server_host:$ftserve_port/up/" ;;
      ftget) "$bin/ftget" -q --bwlimit "$limit" "$server_host:$ftserve_port/down/data.bin" \
        "$base/got/" ;;
      ftserve-up) "$bin/ftsend" -q "$source_file" "$server_host:$ftserve_port/up/" ;;
      ftserve-identity-down) "$bin/ftget" -q --key-file "$tls_key_file" \
        "$server_host:$ftserve_port/down/data.bin" "$base/got/" ;;
    esac
    record_elapsed "$start"
    stop_ftserve
    case $tool in
      ftsend | ftserve-up) verify_copy "$tool" "$(find "$base/root" -path '*/up/data.bin')" ;;
      *) verify_copy "$tool" "$base/got/data.bin" ;;
    esac
    find "$base/root" -path '*/up/data.bin' -delete
    rm -f "$base/got/data.bin"
    local rate
    rate=$(mib_per_second "$seconds")
    printf '%-28s %10.3f %10s %9s\n' "$tool" "$seconds" "$rate" \
      "$(ratio "$rate" "$(awk -v b="$limit_bytes" 'BEGIN { print b / 1048576 }')")"
    record_result bwlimit "$tool" "$rate" "MiB/s (limit 10)" "$(printf '%.3f s' "$seconds")"
  done
  size_mib=$saved_mib
  rm -rf "$base"
}
