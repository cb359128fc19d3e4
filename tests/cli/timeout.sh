#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves bounded waits (-w): against a holder that keeps the lock,
# `run -w 1s` exits 75 after about a second without running PROGRAM; and a
# waiter gets the lock as soon as it is released (the server's queue hands
# it over, nobody polls).
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

name="$UNIQ"
key=$(key_of "$name")
hold_gated "$name" "$key"
holder=$HOLDER

for w in 1s 1000ms 1; do
  t0=$(now_ms) rc=0
  "$SQLLOCK" run -w "$w" "$name" -- touch "$TMP/ran" 2>"$TMP/err" || rc=$?
  ms=$(($(now_ms) - t0))
  ((rc == 75)) || fail "-w $w: exit $rc ($(cat "$TMP/err"))"
  ((ms >= 950 && ms < 3000)) || fail "-w $w: gave up after ${ms}ms, not about 1s"
  [[ ! -e "$TMP/ran" && ! -s "$TMP/err" ]] || fail "-w $w: PROGRAM ran, or stderr: $(cat "$TMP/err")"
  ok "-w $w against a holder: exit 75 after ${ms}ms"
done

# A waiter with a long bound is handed the lock when the holder lets go.
"$SQLLOCK" run -w 20s "$name" -- sh -c 'date +%s%N >"$1"' sh "$TMP/started" &
waiter=$!
wait_until 10 count_is 1 "$key" f
t0=$(date +%s%N)
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"
bounded_wait 15 "$waiter"
((RC == 0)) || fail "waiter exited $RC"
handover=$((($(cat "$TMP/started") - t0) / 1000000))
((handover < 1000)) || fail "the waiter started ${handover}ms after the release"
ok "a waiting run starts ${handover}ms after the holder releases"
