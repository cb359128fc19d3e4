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
# Cut off by the same partition, at the same moment, each with its next
# holder waiting outside, and judged by the checker alike (no overlap):
#  - a lease holder (libpq, ttl LEASE_TTL_MS): the next holder must get the
#    lease at its expiry, with a higher token, whoever knows; the holder's
#    check, unanswered, must say LOST by its deadline (acquire + ttl; the
#    library gives the connection up then), within 1 s (lease-lost_s);
#  - a pg-advisory holder over psqlODBC: it must notice within its window
#    (the library gives psqlODBC libpq's 20 s tcp_user_timeout through
#    pqopt=, and the server the same keepalives as over libpq); timed
#    (odbc-lost_s, odbc-freed_s). Without the tcp_user_timeout it noticed
#    nothing in 62 s: keepalives do not run while a check waits for its
#    reply.
# The test ends with one table: per holder, when it noticed and when the
# next holder was granted, from the cut.
#
# usage: partition.sh BUILD_DIR_OF_TESTS_FAULTS
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/netns.sh"
source "$FAULTS_DIR/pg_locks.sh"

CLIENT=$1/net_client
CHECK_MS=500        # the holder's sqllock_check interval
CLIENT_IDLE_MAX=10  # keepalives_idle the library sets on its own connections
SERVER_IDLE_MAX=30  # tcp_keepalives_idle it asks the server for
LEASE_TTL_MS=5000
ODBC_MAX_MS=62000   # the ODBC holder's and next holder's window, from their start
[[ -x "$CLIENT" ]] || fail "no $CLIENT (build the tests first)"

netns_create
PGTEST_EXTRA_CONF="listen_addresses = '127.0.0.1,$NETNS_HOST_IP'"
PGTEST_EXTRA_HBA="host sqllock_test sqllock_test $NETNS_SUBNET scram-sha-256"
fault_cluster

psql -X -q -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" -f "$REPO_DIR/sql/postgresql.sql" >/dev/null

NAME=partition-$$
holder_holds() { # [NAME]
  [[ $(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE $(pg_lock_of "${1:-$NAME}") AND l.granted AND a.client_addr = '$NETNS_PEER_IP'") == 1 ]]
}
taker_waits() { # [NAME]
  [[ $(sql "SELECT count(*) FROM pg_locks l WHERE $(pg_lock_of "${1:-$NAME}") AND NOT l.granted") == 1 ]]
}
lease_held_by() { # NAME PID
  [[ $(sql "SELECT count(*) FROM sqllock_lease WHERE name = convert_to('$1', 'UTF8')
            AND owner_pid = $2 AND NOT released") == 1 ]]
}

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
mkdir "$TMP/hist" "$TMP/hist-lease" "$TMP/hist-odbc"
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

# The other holders: OTHER_HOLDER[case], OTHER_TAKER[case], histories in
# $TMP/hist-<case>. A lease over TCP, its next holder over the unix socket;
# pg-advisory over psqlODBC, its next holder over ODBC too, outside.
declare -A OTHER_HOLDER=() OTHER_TAKER=()
NET_TTL_MS=$LEASE_TTL_MS NET_URL=${SQLLOCK_TEST_TCP_URL/@127.0.0.1:/@$NETNS_HOST_IP:} \
  ip netns exec "$NETNS" "$CLIENT" hold "$NAME-lease" "$TMP/hist-lease/holder" "$CHECK_MS" 75000 \
  2>"$TMP/lease-holder.err" &
OTHER_HOLDER[lease]=$!
on_exit "kill -KILL ${OTHER_HOLDER[lease]} 2>/dev/null"
wait_until 20 lease_held_by "$NAME-lease" "${OTHER_HOLDER[lease]}"
NET_TTL_MS=$LEASE_TTL_MS NET_URL=$SQLLOCK_TEST_URL \
  "$CLIENT" take "$NAME-lease" "$TMP/hist-lease/taker" 90000 2>"$TMP/lease-taker.err" &
OTHER_TAKER[lease]=$!
on_exit "kill -KILL ${OTHER_TAKER[lease]} 2>/dev/null"
wait_until 10 lease_queued "$NAME-lease" "${OTHER_TAKER[lease]}"
# Built without ODBC (SQLLOCK_WITH_ODBC=OFF), there is no ODBC holder.
OTHERS=(lease)
[[ ${SQLLOCK_FAULT_ODBC:-} == 1 ]] && OTHERS+=(odbc)
if [[ ${SQLLOCK_FAULT_ODBC:-} == 1 ]]; then
  NET_URL=${SQLLOCK_TEST_ODBC_PG_URL/Servername=127.0.0.1;/Servername=$NETNS_HOST_IP;} \
    ip netns exec "$NETNS" "$CLIENT" hold "$NAME-odbc" "$TMP/hist-odbc/holder" "$CHECK_MS" "$ODBC_MAX_MS" \
    2>"$TMP/odbc-holder.err" &
  OTHER_HOLDER[odbc]=$!
  on_exit "kill -KILL ${OTHER_HOLDER[odbc]} 2>/dev/null"
  wait_until 20 holder_holds "$NAME-odbc"
  NET_URL=$SQLLOCK_TEST_ODBC_PG_URL \
    "$CLIENT" take "$NAME-odbc" "$TMP/hist-odbc/taker" "$ODBC_MAX_MS" 2>"$TMP/odbc-taker.err" &
  OTHER_TAKER[odbc]=$!
  on_exit "kill -KILL ${OTHER_TAKER[odbc]} 2>/dev/null"
  wait_until 10 taker_waits "$NAME-odbc"
fi
ok "holders of ${OTHERS[*]} in $NETNS hold theirs, their next holders wait"

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

# at FILE EVENT [FIELD]: a field (1: mono_ns) of FILE's first EVENT line.
at() { awk -F'\t' -v e="$2" -v f="${3:-1}" '$3 == e { print $f; exit }' "$TMP/$1"; }
cut=$(at hist/partition fault)
lost=$(at hist/holder lost)
freed=$(at hist/taker acquire_ok)
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

# The other holders, within the same 95 s.
declare -A NOTICED=([libpq]="LOST after $(secs "$cut" "$lost") s") GRANTED=([libpq]="after $(secs "$cut" "$freed") s")
for k in "${OTHERS[@]}"; do
  bounded_wait $((95 - ($(now_ms) - cut_ms) / 1000)) "${OTHER_HOLDER[$k]}"
  h_rc=$RC
  bounded_wait $((95 - ($(now_ms) - cut_ms) / 1000)) "${OTHER_TAKER[$k]}"
  t_rc=$RC
  "$1/checker" --history "$TMP/hist-$k" >"$TMP/$k.check" ||
    { cat "$TMP/$k.check" >&2; fail "$k: the checker found overlapping holds"; }
  ended=$(at "hist-$k/holder" lost)
  case $h_rc in
    0) NOTICED[$k]="LOST after $(secs "$cut" "$ended") s"
       report "$k-lost_s" "$(secs "$cut" "$ended")" ;;
    1) NOTICED[$k]="check failed after $(secs "$cut" "$ended") s ($(at "hist-$k/holder" lost 7))"
       report "$k-check_failed_s" "$(secs "$cut" "$ended")" ;;
    2) [[ $k != odbc ]] || fail "odbc: the holder did not notice the partition in its window"
       ended=$(at "hist-$k/holder" release_invoke)
       NOTICED[$k]="not noticed in $(secs "$cut" "$ended") s"
       report "$k-not_noticed_in_s" "$(secs "$cut" "$ended")" ;;
    *) cat "$TMP/$k-holder.err" >&2; fail "$k: the holder ended with $h_rc" ;;
  esac
  granted=$(at "hist-$k/taker" acquire_ok)
  if ((t_rc == 0)); then
    GRANTED[$k]="after $(secs "$cut" "$granted") s"
    report "$k-freed_s" "$(secs "$cut" "$granted")"
  elif [[ $k == odbc && -n $(at "hist-$k/taker" acquire_fail) ]]; then
    given_up=$(at "hist-$k/taker" acquire_fail)
    GRANTED[$k]="not in $(secs "$cut" "$given_up") s"
    report "$k-not_freed_in_s" "$(secs "$cut" "$given_up")"
  else
    cat "$TMP/$k-taker.err" >&2
    fail "$k: the next holder ended with $t_rc"
  fi
done
# A lease is freed by its expiry, which the partition cannot stop.
deadline=$(at hist-lease/holder acquire_ok 7)
deadline=${deadline#deadline_ns=}
report lease-deadline_s "$(secs "$cut" "$deadline")"
lease_lost=$(at hist-lease/holder lost)
[[ -n "$lease_lost" && ${NOTICED[lease]} == "LOST after"* ]] ||
  fail "lease: the cut-off holder did not say LOST (${NOTICED[lease]})"
((lease_lost <= deadline + 1000000000)) ||
  fail "lease: the cut-off holder said LOST $(secs "$deadline" "$lease_lost") s after its deadline"
old=$(at hist-lease/holder acquire_ok 5) new=$(at hist-lease/taker acquire_ok 5)
((old < new)) || fail "lease: the next holder's token $new is not above the cut-off holder's $old"

echo "---- a silent partition: holder over TCP cut off, next holder waiting outside (times from the cut) ----"
printf '%-30s  %-48s  %s\n' holder "holder noticed" "next holder granted"
printf '%-30s  %-48s  %s\n' "pg-advisory, libpq TCP" "${NOTICED[libpq]}" "${GRANTED[libpq]}"
printf '%-30s  %-48s  %s\n' "lease ttl $LEASE_TTL_MS ms, libpq TCP" "${NOTICED[lease]}" "${GRANTED[lease]} (deadline $(secs "$cut" "$deadline") s)"
if [[ -n ${NOTICED[odbc]:-} ]]; then
  printf '%-30s  %-48s  %s\n' "pg-advisory, psqlODBC TCP" "${NOTICED[odbc]}" "${GRANTED[odbc]}"
fi
