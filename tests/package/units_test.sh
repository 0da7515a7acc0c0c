#!/usr/bin/env bash
# The shipped units, installed into a temporary prefix, pass
# `systemd-analyze verify` without a word, and ftserve.service rates 2.0 or
# lower ("OK" or better) in `systemd-analyze security --offline=yes`.
#   usage: units_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
  cat "$work/install.log"
  fail "cmake --install"
}
units=$prefix/lib/systemd/system

# verify prints its findings on stderr and may still exit 0: any output is
# a finding. It checks the man pages Documentation= names: the installed ones.
if ! (cd "$units" && MANPATH=$prefix/share/man systemd-analyze verify ftserve.socket ftserve.service) >"$work/verify" 2>&1 ||
  [[ -s $work/verify ]]; then
  cat "$work/verify"
  fail "systemd-analyze verify has findings"
fi

systemd-analyze security --offline=yes --no-pager "$units/ftserve.service" >"$work/security" 2>&1 ||
  true
exposure=$(sed -n 's/.*Overall exposure level for ftserve.service: \([0-9.]*\).*/\1/p' \
  "$work/security")
[[ -n $exposure ]] || { cat "$work/security"; fail "no exposure level in the security report"; }
if ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
  cat "$work/security"
  fail "ftserve.service exposure $exposure, above 2.0"
fi
echo "units test: ok (exposure $exposure)"
