#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves: with sqllock's shipped connection defaults (the URL says nothing
# about keepalives or timeouts), a client that holds a session advisory
# lock over TCP and is silently cut off from the server reports LOST before
# the server frees the lock, so the next holder never overlaps it. The
# client's tcp_user_timeout (20 s) must fire well before the server-side
# keepalives the library asks for its session (30 s + 3 x 10 s, and a 60 s
# tcp_user_timeout) end the backend. Measures both times from the moment of
# the partition (figures lost_s and freed_s). ss shows that both ends of the
# holder's connection run the keepalive idle time asked for.
#
# Holder: in a network namespace of the test's own, over TCP through a
# "switch" namespace whose bridge drops every packet once cut (netns.sh).
# Next holder: outside, over the unix socket, waiting in the server's queue.
#
# usage: partition.sh BUILD_DIR_OF_TESTS_FAULTS
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/netns.sh"

CLIENT=$1/net_client
CHECK_MS=500        # the holder's sqllock_check interval
CLIENT_IDLE_MAX=10  # keepalives_idle the library sets on its own connections
SERVER_IDLE_MAX=30  # tcp_keepalives_idle it asks the server for
[[ -x "$CLIENT" ]] || fail "no $CLIENT (build the tests first)"

netns_create
PGTEST_EXTRA_CONF="listen_addresses = '127.0.0.1,$NETNS_HOST_IP'"
PGTEST_EXTRA_HBA="host sqllock_test sqllock_test $NETNS_SUBNET scram-sha-256"
fault_cluster

NAME=partition-$$
KEY="hashtextextended('$NAME', 0)"
LOCK="l.locktype = 'advisory' AND l.objsubid = 1
      AND l.classid = (($KEY >> 32) & 4294967295)::oid AND l.objid = ($KEY & 4294967295)::oid"
holder_holds() {
  [[ $(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE $LOCK AND l.granted AND a.client_addr = '$NETNS_PEER_IP'") == 1 ]]
}
taker_waits() { [[ $(sql "SELECT count(*) FROM pg_locks l WHERE $LOCK AND NOT l.granted") == 1 ]]; }

# Seconds left on the keepalive timer of the connection ss "$@" lists;
# nothing while another timer (a retransmission) runs. ss prints e.g.
# "timer:(keepalive,29.512sec,0)", "timer:(keepalive,119min59sec,0)", "500ms".
keepalive_s() {
  "$@" | sed -n 's/.*timer:(keepalive,\([^,]*\),.*/\1/p' | awk '{
    t = 0
    if (match($0, /[0-9]+min/)) t += 60 * substr($0, RSTART, RLENGTH - 3)
    if (match($0, /[0-9.]+sec/)) t += substr($0, RSTART, RLENGTH - 3)
    else if (match($0, /[0-9]+ms/)) t += substr($0, RSTART, RLENGTH - 2) / 1000
    print t }'
}
server_side() { ss -tnoH state established "( sport = :$PGTEST_PORT )" dst "$NETNS_PEER_IP"; }
client_side() { ip netns exec "$NETNS" ss -tnoH state established dst "$NETNS_HOST_IP:$PGTEST_PORT"; }
keepalive_shown() { [[ -n "$(keepalive_s "$1")" ]]; }

# The holder, cut off later. Its URL carries the password, so it travels in
# the environment, never on a command line or in the output. It gives up
# 75 s after it took the lock, later than the server frees it (about 60 s
# after the cut), so a holder that never notices the loss shows up in the
# history as an overlap.
mkdir "$TMP/hist"
NET_URL=${SQLLOCK_TEST_TCP_URL/@127.0.0.1:/@$NETNS_HOST_IP:} \
  ip netns exec "$NETNS" "$CLIENT" hold "$NAME" "$TMP/hist/holder" "$CHECK_MS" 75000 \
  2>"$TMP/holder.err" &
HOLDER=$!
on_exit "kill -KILL $HOLDER 2>/dev/null"
wait_until 20 holder_holds
ok "the holder in $NETNS holds $NAME over TCP"

wait_until 5 keepalive_shown server_side
wait_until 5 keepalive_shown client_side
server_ka=$(keepalive_s server_side)
client_ka=$(keepalive_s client_side)
awk -v s="$server_ka" -v m="$SERVER_IDLE_MAX" 'BEGIN { exit !(s <= m) }' ||
  fail "server side of the holder's connection: keepalive due in ${server_ka}s, want <= ${SERVER_IDLE_MAX}s (tcp_keepalives_idle not set for the session)"
awk -v s="$client_ka" -v m="$CLIENT_IDLE_MAX" 'BEGIN { exit !(s <= m) }' ||
  fail "client side: keepalive due in ${client_ka}s, want <= ${CLIENT_IDLE_MAX}s"
ok "keepalive timers: server side ${server_ka}s (<= $SERVER_IDLE_MAX), client side ${client_ka}s (<= $CLIENT_IDLE_MAX)"

NET_URL=$SQLLOCK_TEST_URL "$CLIENT" take "$NAME" "$TMP/hist/taker" 90000 2>"$TMP/taker.err" &
TAKER=$!
on_exit "kill -KILL $TAKER 2>/dev/null"
wait_until 10 taker_waits
ok "the next holder waits in the server's queue"

"$CLIENT" fault "$TMP/hist/partition" holder partition
netns_partition
cut_ms=$(now_ms)
ok "partitioned"

# The whole run after the cut is bounded at 95 s.
bounded_wait 80 "$HOLDER"
holder_rc=$RC
bounded_wait $((95 - ($(now_ms) - cut_ms) / 1000)) "$TAKER"
taker_rc=$RC
(($(netns_dropped) > 0)) || fail "the partition dropped no packet: it did not cut the holder off"
# Held intervals: the holder's from acquire_ok to lost, the next holder's
# from acquire_ok to release: they must not overlap.
"$1/checker" --history "$TMP/hist" || fail "the checker found overlapping holds (above)"
((holder_rc == 0)) || { cat "$TMP/holder.err" >&2; fail "the holder ended with $holder_rc, not with LOST (2: never noticed)"; }
((taker_rc == 0)) || { cat "$TMP/taker.err" >&2; fail "the next holder ended with $taker_rc: the server never freed the lock"; }

at() { awk -F'\t' -v e="$2" '$3 == e { print $1; exit }' "$TMP/hist/$1"; }
cut=$(at partition fault)
lost=$(at holder lost)
freed=$(at taker acquire_ok)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
report lost_s "$(secs "$cut" "$lost")"
report freed_s "$(secs "$cut" "$freed")"
report margin_s "$(secs "$lost" "$freed")"
report dropped_packets "$(netns_dropped)"
((lost < freed)) || fail "the holder reported LOST $(secs "$freed" "$lost") s after the server had given the lock to another client"
lost_ms=$(((lost - cut) / 1000000))
((lost_ms >= 15000 && lost_ms <= 30000)) ||
  fail "LOST came ${lost_ms} ms after the partition; the library's 20 s tcp_user_timeout puts it at 20-25 s"
ok "LOST after $(secs "$cut" "$lost") s, lock freed by the server after $(secs "$cut" "$freed") s"
