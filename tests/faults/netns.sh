# SPDX-License-Identifier: MIT
# Sourced by network fault tests after lib.sh, never run: a client network
# namespace of the test's own that reaches the root namespace through a
# "switch" namespace (a bridge between two veth pairs), and a silent
# partition cut in that switch.
#
#   netns_create      # NETNS (run the client there: ip netns exec "$NETNS"),
#                     # NETNS_HOST_IP (root side: the server listens there),
#                     # NETNS_PEER_IP (the client's), NETNS_SUBNET;
#                     # all deleted on exit
#   netns_partition   # from now on every IP packet between the two is dropped
#
# Why a switch in between: a drop on the client's or the server's own
# interface is reported back to the sending TCP stack (EPERM from the
# output hook, NET_XMIT_DROP from the egress hook), so it retries as for
# local congestion. Dropped in a bridge of a third namespace, the packets
# leave both stacks normally and vanish, as in a real partition: both sides
# retransmit, probe and time out on their own settings alone. No reset and
# no ICMP error is sent (drop, not reject). ARP still passes, as across a
# routed network whose first hop is alive.
#
# Everything the test changes lives in objects it created (two namespaces,
# two veth pairs, an nftables table inside the switch namespace), named
# after the test's PID so that concurrent runs do not meet.
# shellcheck shell=bash

netns_create() {
  local tool n i
  ((EUID == 0)) || { echo "SKIP: $TEST: needs root (network namespaces)"; exit 77; }
  for tool in ip nft; do
    command -v "$tool" >/dev/null && continue
    [[ -n "${SQLLOCK_TEST_REQUIRE_SERVER:-}" ]] && fail "$tool is not installed (iproute2, nftables)"
    echo "SKIP: $TEST: $tool is not installed (iproute2, nftables)"
    exit 77
  done
  NETNS=sqllock-$TEST-$$
  NETNS_SWITCH=sqllock-$TEST-$$-switch
  NETNS_HOST_DEV=sqlk$$h
  # A /24 of 10.213/16 that no interface of this machine uses yet.
  for ((i = 0; i < 50; i++)); do
    n=$((($$ + i) % 250 + 1))
    ip -4 -o addr show | grep -q " 10\.213\.$n\." || break
  done
  ((i < 50)) || fail "no free 10.213.x.0/24 for the test network"
  # shellcheck disable=SC2034 # for the sourcing test (pg_hba.conf)
  NETNS_SUBNET=10.213.$n.0/24
  NETNS_HOST_IP=10.213.$n.1
  NETNS_PEER_IP=10.213.$n.2
  # Armed before the first object exists, so a half-built network goes too.
  on_exit netns_delete
  ip netns add "$NETNS"
  ip netns add "$NETNS_SWITCH"
  ip link add "$NETNS_HOST_DEV" type veth peer name host netns "$NETNS_SWITCH"
  ip -n "$NETNS_SWITCH" link add client type veth peer name eth0 netns "$NETNS"
  ip -n "$NETNS_SWITCH" link add switch type bridge
  ip -n "$NETNS_SWITCH" link set host master switch up
  ip -n "$NETNS_SWITCH" link set client master switch up
  ip -n "$NETNS_SWITCH" link set switch up
  ip addr add "$NETNS_HOST_IP/24" dev "$NETNS_HOST_DEV"
  ip link set "$NETNS_HOST_DEV" up
  ip -n "$NETNS" addr add "$NETNS_PEER_IP/24" dev eth0
  ip -n "$NETNS" link set eth0 up
  ip -n "$NETNS" link set lo up
}

netns_partition() {
  ip netns exec "$NETNS_SWITCH" nft -f - <<EOF
table bridge sqllock_partition {
  chain cut {
    type filter hook forward priority 0;
    ip saddr $NETNS_HOST_IP ip daddr $NETNS_PEER_IP counter drop
    ip saddr $NETNS_PEER_IP ip daddr $NETNS_HOST_IP counter drop
  }
}
EOF
}

# How many packets the cut has dropped (both directions).
netns_dropped() {
  ip netns exec "$NETNS_SWITCH" nft list table bridge sqllock_partition |
    awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# Deleting the root side's veth takes its peer with it at once (devices of
# a deleted namespace go only when the kernel gets round to it).
netns_delete() {
  ip link del "$NETNS_HOST_DEV" 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
  ip netns del "$NETNS_SWITCH" 2>/dev/null || true
}
