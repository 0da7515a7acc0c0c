#!/usr/bin/env bash
# scripts/link.sh, the emulated LAN of scripts/bench --link, without the
# bench: the namespace and the shaped veth pair come up, carry bytes to a
# listener inside the namespace, and are gone afterwards, also when the
# script that made them fails half-way (its EXIT trap). Skipped (77) when
# not root or when `ip netns` does not work here.
#   usage: link_smoke_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
# shellcheck source=scripts/link.sh
source scripts/link.sh
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
if ! why=$(link_supported); then
  echo "skipped: $why"
  exit 77
fi
command -v socat >/dev/null || { echo "skipped: no socat"; exit 77; }

leftovers() {
  # Anything of ours (ftlink-PID...) still there.
  { ip netns list; ip -o link show; } | grep -F "ftlink-$1" || true
}

trap link_down EXIT
link_up 1g || fail "link_up 1g"
[[ $link_server_address == 10.77.1.* && $link_host_address == 10.77.1.* ]] ||
  fail "addresses outside 10.77.1.0/24: $link_host_address $link_server_address"
tc qdisc show dev "$link_host_if" | grep -q 'tbf' || fail "no tbf on $link_host_if"
in_link_ns tc qdisc show | grep -q 'tbf' || fail "no tbf inside the namespace"

# 4 MiB through the link to socat in the namespace, checked by size.
work=$(mktemp -d)
trap 'link_down; rm -rf "$work"' EXIT
in_link_ns timeout 20 socat -u "TCP-LISTEN:5999,bind=$link_server_address" "CREATE:$work/got" &
listener=$!
for ((tries = 0; tries < 100; tries++)); do
  in_link_ns ss -ltn 2>/dev/null | grep -q ":5999 " && break
  sleep 0.05
done
head -c 4194304 /dev/zero | timeout 20 socat -u - "TCP:$link_server_address:5999" ||
  fail "could not send through the link"
wait "$listener" || fail "the listener in the namespace failed"
[[ $(stat -c %s "$work/got") == 4194304 ]] || fail "the listener got $(stat -c %s "$work/got") bytes"

link_down
[[ -z $(leftovers $$) ]] || fail "left behind: $(leftovers $$)"

# A script that dies after link_up still removes everything (its trap).
child_pid=$(bash -c 'source scripts/link.sh; trap link_down EXIT; link_up 10g >/dev/null; echo $$; exit 3' || true)
[[ $child_pid =~ ^[0-9]+$ ]] || fail "the failing child did not set the link up"
[[ -z $(leftovers "$child_pid") ]] || fail "left behind by a failing script: $(leftovers "$child_pid")"
echo "ok: link up (tbf both ways), 4 MiB carried, nothing left behind"
