#!/usr/bin/env bash
# Runs every fuzzer for SECONDS over a scratch copy of its seed corpus (the
# committed corpus is never written to) and fails on the first crash.
#   usage: bash tests/fuzz/run.sh SECONDS BUILD_DIR
# BUILD_DIR is a build configured with CXX=clang++ -DFT_FUZZ=ON; the fuzzers
# are built first if needed. A crashing input is kept in BUILD_DIR/fuzz-crashes.
set -euo pipefail

if [[ $# -ne 2 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS BUILD_DIR" >&2
  exit 2
fi
seconds=$1
build=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fuzzers=(fuzz_frame_decoder:frame_decoder fuzz_path_rules:path_rules fuzz_tls_handshake:tls_handshake
         fuzz_chunk_decompress:chunk_decompress fuzz_proxy_header:proxy_header)

ninja -C "$build" "${fuzzers[@]%%:*}"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ft-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
crashes="$build/fuzz-crashes"
mkdir -p "$crashes"

status=0
for entry in "${fuzzers[@]}"; do
  target=${entry%%:*}
  seeds=${entry##*:}
  corpus="$scratch/$seeds"
  mkdir -p "$corpus"
  cp -r "$here/corpus/$seeds/." "$corpus/"
  echo "== $target: ${seconds}s over $(ls "$corpus" | wc -l) seeds"
  if ! "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$crashes/$target-" "$corpus" \
      >"$scratch/$target.log" 2>&1; then
    echo "!! $target failed; log tail and artifacts in $crashes:" >&2
    tail -n 40 "$scratch/$target.log" >&2
    status=1
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$scratch/$target.log" || true
  fi
done
exit $status
