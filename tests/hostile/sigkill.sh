#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile deployments: clients killed by SIGKILL, and how long the server
# takes to forget them. Usage: sigkill.sh SQLLOCK CASE VIA URLVAR (VIA names
# the transport in test and figure names), CASE one of
#   waiter        a `sqllock run -w` queued behind a holder is SIGKILLed:
#                 its backend leaves pg_locks and pg_stat_activity within
#                 10 s (client_connection_check_interval 2 s on sqllock's own
#                 sessions; without it, it stayed as long as the holder held)
#   waiter_unset  the same with the caller's own client_connection_check_interval
#                 = 0 (PGOPTIONS): the caller's choice wins, and the waiter is
#                 still queued 12 s after the kill -- the bound above is the
#                 setting's doing, and this test's measurement can fail
#   holder        the holder is SIGKILLed: its backend and its lock are gone
#                 within 5 s, and the queued waiter gets the lock
# Every case ends "not wedged": a fresh run takes and releases the lock.
# The measured times are printed and appended to $SQLLOCK_FAULT_FIGURES.
source "$(dirname "$0")/../cli/lib.sh" "$@"
CASE=${2:?usage: $0 SQLLOCK CASE VIA URLVAR}
VIA=${3:?usage: $0 SQLLOCK CASE VIA URLVAR}
URLVAR=${4:?usage: $0 SQLLOCK CASE VIA URLVAR}
need_server "$URLVAR" SQLLOCK_TEST_ADMIN_URL
export SQLLOCK_URL=${!URLVAR}
TEST=sigkill_${CASE}_$VIA
report() {
  echo "figure: $TEST $1 = $2"
  printf '{"test":"%s","figure":"%s","value":"%s"}\n' "$TEST" "$1" "$2" \
    >>"${SQLLOCK_FAULT_FIGURES:-/dev/null}"
}
sessions() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1'"; }
gone() { [[ "$(sessions "$1")" == 0 ]]; }

name=$UNIQ-$CASE
key=$(key_of "$name")
holder_app=$UNIQ-holder waiter_app=$UNIQ-waiter

gate_close "$TMP/hold"
PGAPPNAME=$holder_app "$SQLLOCK" run "$name" -- flock -w 60 "$TMP/hold" true &
holder=$!
wait_until 10 count_is 1 "$key" t "$holder_app"
[[ $CASE == waiter_unset ]] && export PGOPTIONS="-c client_connection_check_interval=0"
PGAPPNAME=$waiter_app "$SQLLOCK" run -w 120s "$name" -- true &
waiter=$!
unset PGOPTIONS
wait_until 10 count_is 1 "$key" f "$waiter_app"

case $CASE in
waiter)
  kill -KILL "$waiter"
  t0=$(now_ms)
  wait_until 10 gone "$waiter_app"
  report waiter_gone_ms $(($(now_ms) - t0))
  count_is 0 "$key" f || fail "someone still waits for the lock"
  count_is 1 "$key" t "$holder_app" || fail "the holder lost the lock"
  ok "a SIGKILLed waiter left the server's queue in $(($(now_ms) - t0)) ms"
  gate_open
  bounded_wait 10 "$holder"
  ((RC == 0)) || fail "the holder exited $RC"
  ;;
waiter_unset)
  kill -KILL "$waiter"
  t0=$(now_ms)
  deadline=$((t0 + 12000))
  while (($(now_ms) < deadline)); do
    count_is 1 "$key" f "$waiter_app" || fail "the waiter left after $(($(now_ms) - t0)) ms" \
      "although the caller set client_connection_check_interval = 0"
    sleep 0.5
  done
  ok "with the caller's client_connection_check_interval = 0 a killed waiter still waits 12 s later"
  gate_open
  bounded_wait 10 "$holder"
  ((RC == 0)) || fail "the holder exited $RC"
  # The dead waiter is granted the lock, tries to answer, and only then goes.
  wait_until 10 gone "$waiter_app"
  ;;
holder)
  kill -KILL "$holder"
  t0=$(now_ms)
  wait_until 5 gone "$holder_app"
  report holder_gone_ms $(($(now_ms) - t0))
  bounded_wait 10 "$waiter"
  ((RC == 0)) || fail "the waiter exited $RC after the holder was killed"
  report waiter_granted_ms $(($(now_ms) - t0))
  ok "a SIGKILLed holder's session ended in under 5 s and the waiter got the lock"
  ;;
*) fail "unknown case $CASE" ;;
esac

count_is 0 "$key" t || fail "something still holds the lock"
"$SQLLOCK" run "$name" -- true || fail "a fresh run could not take the lock"
ok "not wedged: a fresh run took and released the lock"
