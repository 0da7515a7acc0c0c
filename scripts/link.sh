# shellcheck shell=bash
# An emulated LAN for scripts/bench --link and its smoke test: a network
# namespace of our own joined to this one by a veth pair, each end shaped by
# `tc tbf` to the link's rate (netem is not available on the test machines,
# and tbf alone is the part that matters for throughput). Sourced, not
# executed; needs root and `ip netns`.
#
# Everything is private to the calling process: the names carry its PID
# (ftlink-PID, ftlink-PIDh / ftlink-PIDn) and the addresses are one /30 of
# 10.77.1.0/24 (the test hosts' own range for this bench) that no other
# interface holds yet. link_down removes all of it; call it from an EXIT trap.
#
#   link_up RATE     RATE is 1g or 10g; sets link_ns, link_host_address
#                    (this side) and link_server_address (the namespace side)
#   in_link_ns CMD   runs CMD inside the namespace (exec: the PID is CMD's)
#   link_down        removes the namespace and the pair (idempotent)

link_ns=
link_host_if=
link_host_address=
link_server_address=

# True when this machine can build the link: root, iproute2 with netns and
# the tbf qdisc. Prints why not on stdout otherwise.
link_supported() {
  if ((EUID != 0)); then
    echo "not root (network namespaces need CAP_NET_ADMIN)"
    return 1
  fi
  if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    echo "no ip or tc (iproute2)"
    return 1
  fi
  if ! ip netns list >/dev/null 2>&1; then
    echo "'ip netns' does not work here"
    return 1
  fi
  return 0
}

# The tbf parameters of a link rate. The bucket (burst) must hold at least
# one timer tick's worth of bytes at that rate or tbf undershoots it, and a
# GSO packet larger than the bucket is split first; the queue (latency)
# stays small, like a switch port's buffer.
link_tbf_args() {
  case $1 in
    1g) echo "rate 1gbit burst 256kb latency 5ms" ;;
    10g) echo "rate 10gbit burst 2mb latency 2ms" ;;
    *) return 1 ;;
  esac
}

link_up() {
  local rate=$1 tbf slot base
  tbf=$(link_tbf_args "$rate") || { echo "unknown link rate '$rate' (1g or 10g)" >&2; return 1; }
  link_ns=ftlink-$$
  link_host_if=ftlink-$$h
  local peer_if=ftlink-$$n
  # One free /30: the first slot from a PID-derived start whose addresses
  # no interface here holds, so that two benches can run side by side.
  for ((slot = 0; slot < 64; slot++)); do
    base=$(((($$ + slot) % 63 + 1) * 4))
    if ! ip -4 addr show | grep -q "inet 10\.77\.1\.$((base + 1))/"; then break; fi
    base=
  done
  [[ -n $base ]] || { echo "no free /30 in 10.77.1.0/24" >&2; return 1; }
  link_host_address=10.77.1.$((base + 1))
  link_server_address=10.77.1.$((base + 2))

  ip netns add "$link_ns" || return 1
  ip link add "$link_host_if" type veth peer name "$peer_if" || return 1
  ip link set "$peer_if" netns "$link_ns" || return 1
  ip addr add "$link_host_address/30" dev "$link_host_if" || return 1
  ip link set "$link_host_if" up || return 1
  ip netns exec "$link_ns" ip addr add "$link_server_address/30" dev "$peer_if" || return 1
  ip netns exec "$link_ns" ip link set "$peer_if" up || return 1
  ip netns exec "$link_ns" ip link set lo up || return 1
  # Both directions are shaped: uploads leave through the host end,
  # downloads through the namespace end.
  # shellcheck disable=SC2086  # tbf holds several words on purpose
  tc qdisc add dev "$link_host_if" root tbf $tbf || return 1
  # shellcheck disable=SC2086
  ip netns exec "$link_ns" tc qdisc add dev "$peer_if" root tbf $tbf || return 1
}

in_link_ns() {
  ip netns exec "$link_ns" "$@"
}

link_down() {
  [[ -n $link_ns ]] || return 0
  # Deleting the host end removes its peer in the namespace too.
  ip link del "$link_host_if" 2>/dev/null || true
  ip netns del "$link_ns" 2>/dev/null || true
  link_ns=
}
