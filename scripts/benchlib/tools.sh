# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the globals are scripts/bench's and its parts'
# Part of scripts/bench (sourced by it, with its options and globals set).
# Process bookkeeping, small helpers (time, medians, ratios, checks) and
# how each tool is started and timed: socat, ftserve and its clients, the
# rsync daemon, scp.

# --- cleanup ----------------------------------------------------------------
# Every background process and temporary directory is registered here so that
# an abort (a failed cmp, Ctrl-C) leaves nothing running or lying around.
background_pids=()
temp_dirs=()
cleanup() {
  local pid
  for pid in "${background_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${background_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  ((${#temp_dirs[@]})) && rm -rf "${temp_dirs[@]}"
  # The disk rows' file system, once nothing uses it (benchlib/disk.sh).
  if declare -F disk_fs_down >/dev/null; then disk_fs_down; fi
  if [[ -n $link_rate ]]; then link_down; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() {
  local keep=() pid
  for pid in "${background_pids[@]}"; do
    [[ $pid == "$1" ]] || keep+=("$pid")
  done
  background_pids=("${keep[@]}")
}

# Stops a background process we started and waits for it.
stop_process() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# --- small helpers ----------------------------------------------------------
now() { date +%s.%N; }

# Sets `seconds`, the wall time since the `now` stamp given. The run_*
# functions report through this global rather than through stdout because a
# command substitution would run them in a subshell, where the background
# processes they start and the peak RSS they record would be lost to us.
record_elapsed() { seconds=$(awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }'); }

# The machine's busy CPU time so far, in clock ticks: user, nice, system,
# irq and softirq of the "cpu" line of /proc/stat (not idle or iowait, not
# steal, which is the hypervisor's, nor guest, already in user). Both ends
# of a transfer run here, so the difference over a run is what the run
# cost the machine (and whatever else ran, which on a quiet machine is
# little).
busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}
clock_ticks_per_second=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Seconds of busy CPU since the busy_ticks stamp given.
cpu_seconds_since() {
  awk -v a="$1" -v b="$(busy_ticks)" -v hz="$clock_ticks_per_second" \
    'BEGIN { printf "%.2f", (b - a) / hz }'
}

mib_per_second() { awk -v mib="$size_mib" -v s="$1" 'BEGIN { printf "%.1f", mib / s }'; }

# Median of the numbers given as arguments, with median_decimals decimals
# (1 unless the caller sets it: `median_decimals=2 median ...`).
median() {
  printf '%s\n' "$@" | sort -g | awk -v f="%.${median_decimals:-1}f" '{ v[NR] = $1 }
    END { if (NR % 2) printf f, v[(NR + 1) / 2]; else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Checks that a transfer delivered exactly the source bytes; a benchmark of a
# tool that corrupts data would be meaningless, so this aborts the run.
verify_copy() {
  local what=$1 copy=$2
  if ! cmp -s "$source_file" "$copy"; then
    printf '\n!!!! %s: %s differs from the source file: ABORTING !!!!\n' "$what" "$copy" >&2
    exit 1
  fi
}

# Removes a transfer's output and flushes, so the next run starts from the
# same state whatever the previous tool left in the page cache's dirty list.
reset_destination() {
  rm -rf "$@"
  sync
}

# True once something listens on server_host:PORT (read from /proc so that
# no extra tool is needed; state 0A is LISTEN). /proc/net/tcp shows the
# sockets of the reader's network namespace, hence the server's prefix.
is_listening() {
  local hex octets
  IFS=. read -r -a octets <<<"$server_host"
  hex=$(printf '%02X%02X%02X%02X:%04X' "${octets[3]}" "${octets[2]}" "${octets[1]}" \
    "${octets[0]}" "$1")
  # shellcheck disable=SC2016  # $2 and $4 are awk's fields
  "${server_ns[@]}" awk -v want="$hex" '$2 == want && $4 == "0A" { found = 1 } END { exit !found }' \
    /proc/net/tcp
}

# Waits (up to 10 s) until PID listens on PORT; fails if PID dies first.
wait_listening() {
  local port=$1 pid=$2 tries
  for ((tries = 0; tries < 200; tries++)); do
    is_listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

random_port() { echo $((20000 + RANDOM % 30000)); }

# --- tools ------------------------------------------------------------------

# One socat copy: a receiver writing to a file and a sender reading one. The
# time runs from the sender's start to the receiver's exit, i.e. until the last
# byte is in the destination file.
run_socat() {
  local dest=$1 port pid start tries
  for ((tries = 0; tries < 10; tries++)); do
    port=$(random_port)
    "${server_ns[@]}" socat -b "$socat_buffer" -u "TCP-LISTEN:$port,reuseaddr,bind=$server_host" "CREATE:$dest" \
      2>/dev/null &
    pid=$!
    background_pids+=("$pid")
    wait_listening "$port" "$pid" && break
    stop_process "$pid"
    pid=
  done
  [[ -n $pid ]] || die "socat receiver did not start"
  start=$(now)
  socat -b "$socat_buffer" -u "FILE:$source_file" "TCP:$server_host:$port"
  wait "$pid" || die "socat receiver failed"
  record_elapsed "$start"
  forget_pid "$pid"
}

# Starts ftserve on an ephemeral port; sets ftserve_pid and ftserve_port.
# Further arguments go to ftserve (--keys FILE).
start_ftserve() {
  local root=$1 out=$2 tries line=
  shift 2
  # Created here, not by the background job's redirection, so that the first
  # read below cannot come before the file exists.
  : >"$out"
  "${server_ns[@]}" "$bin/ftserve" --root "$root" --listen "$server_host:0" "$@" >"$out" 2>"$out.log" &
  ftserve_pid=$!
  background_pids+=("$ftserve_pid")
  for ((tries = 0; tries < 200; tries++)); do
    line=$(head -n 1 "$out")
    [[ $line == "listening on "* ]] && break
    kill -0 "$ftserve_pid" 2>/dev/null || { cat "$out.log" >&2; die "ftserve exited"; }
    sleep 0.05
  done
  [[ $line == "listening on "* ]] || die "ftserve printed no 'listening on' line"
  ftserve_port=${line##*:}
}

# Reads ftserve's peak resident set (KiB) before stopping it.
stop_ftserve() {
  ftserve_peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$ftserve_pid/status")
  stop_process "$ftserve_pid"
}

# Runs a client under GNU time and keeps its peak RSS (KiB) in the global
# named by $1 if higher than what it holds. A failing client ends the bench,
# unless tolerate_failure=1: then its status is left in client_status.
tolerate_failure=0
client_status=0
run_timed_client() {
  local peak_var=$1 start peak
  shift
  start=$(now)
  if /usr/bin/time -f %M -o "$work/time.out" "$@"; then client_status=0; else client_status=$?; fi
  if ((client_status && !tolerate_failure)); then die "failed (status $client_status): $*"; fi
  record_elapsed "$start"
  peak=$(tail -n 1 "$work/time.out")
  if ((peak > ${!peak_var})); then
    printf -v "$peak_var" '%s' "$peak"
  fi
}

# Further arguments (--compress) go to the client.
run_ftsend() {
  run_timed_client ftsend_peak_kib "$bin/ftsend" -q "$@" "$source_file" \
    "$server_host:$ftserve_port/up/"
}

run_ftget() {
  local into=$1
  shift
  run_timed_client ftget_peak_kib "$bin/ftget" -q "$@" "$server_host:$ftserve_port/down/data.bin" \
    "$into"
}

# The same two against the ftserve --keys of the big row (tls_port), with
# the key file made there.
run_ftsend_tls() {
  run_timed_client ftsend_tls_peak_kib "$bin/ftsend" -q --key-file "$tls_key_file" \
    "$source_file" "$server_host:$tls_port/up/"
}

run_ftget_tls() {
  run_timed_client ftget_tls_peak_kib "$bin/ftget" -q --key-file "$tls_key_file" \
    "$server_host:$tls_port/down/data.bin" "$1"
}

# ftsend and ftget with --compress against the -z rows' own ftserve
# (z_port), their peaks kept apart from the plain rows'.
run_ftsend_z() {
  run_timed_client ftsend_z_peak_kib "$bin/ftsend" -q --compress "$source_file" \
    "$server_host:$z_port/up/"
}

run_ftget_z() {
  run_timed_client ftget_z_peak_kib "$bin/ftget" -q --compress \
    "$server_host:$z_port/down/data.bin" "$1"
}

# Starts a second plain ftserve on ROOT for the -z rows; sets z_pid and
# z_port.
start_z_ftserve() {
  local root=$1 dir=$2
  local plain_pid=$ftserve_pid plain_port=$ftserve_port
  start_ftserve "$root" "$dir/ftserve-z.out"
  z_pid=$ftserve_pid z_port=$ftserve_port
  ftserve_pid=$plain_pid ftserve_port=$plain_port
}

# True when this ftserve has keys (TLS): a build from before them has not.
ftserve_has_keys() {
  local help
  help=$("$bin/ftserve" --help 2>&1) || true
  grep -q -- '--keys' <<<"$help"
}

# Makes a keys file with one identity under DIR and starts a second ftserve
# on ROOT with it; sets tls_pid, tls_port and tls_key_file.
start_tls_ftserve() {
  local root=$1 dir=$2
  local keys=$dir/keys
  tls_key_file=$dir/bench.key
  (umask 077 && "$bin/ftserve" keys add bench --keys "$keys" \
    --rights list,read,create,overwrite >"$tls_key_file" 2>"$dir/keys.log") ||
    { cat "$dir/keys.log" >&2; die "ftserve keys add failed"; }
  local plain_pid=$ftserve_pid plain_port=$ftserve_port
  start_ftserve "$root" "$dir/ftserve-tls.out" --keys "$keys"
  tls_pid=$ftserve_pid tls_port=$ftserve_port
  ftserve_pid=$plain_pid ftserve_port=$plain_port
}

# Starts an rsync daemon with one writable module, [bench], on DEST_DIR; sets
# rsyncd_pid and rsyncd_port.
start_rsyncd() {
  local dest_dir=$1 config=$2 tries
  cat >"$config" <<CONF
use chroot = no
[bench]
  path = $dest_dir
  read only = false
  uid = root
  gid = root
CONF
  for ((tries = 0; tries < 10; tries++)); do
    rsyncd_port=$(random_port)
    "${server_ns[@]}" rsync --daemon --no-detach --config="$config" --port="$rsyncd_port" --address="$server_host" \
      2>/dev/null &
    rsyncd_pid=$!
    background_pids+=("$rsyncd_pid")
    wait_listening "$rsyncd_port" "$rsyncd_pid" && return 0
    stop_process "$rsyncd_pid"
  done
  die "rsync daemon did not start"
}

# A fresh upload the way a user would type it; rsync picks whole-file mode for
# a new file anyway, the flag only makes that explicit.
run_rsync() {
  local start
  start=$(now)
  rsync -a --whole-file "$source_file" "rsync://$server_host:$rsyncd_port/bench/"
  record_elapsed "$start"
}

ssh_works() {
  command -v ssh >/dev/null && command -v scp >/dev/null &&
    ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=accept-new \
      root@127.0.0.1 true >/dev/null 2>&1
}

run_scp() {
  local start
  start=$(now)
  scp -q -o BatchMode=yes "$source_file" "root@127.0.0.1:$1/"
  record_elapsed "$start"
}
