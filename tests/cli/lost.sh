#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves what `run` does when the lock is lost while PROGRAM runs: the
# holder's backend is terminated from another session (pg_terminate_backend),
# PROGRAM gets SIGTERM and sqllock exits 70, within --check-every plus a
# margin; a PROGRAM that ignores SIGTERM is killed with SIGKILL after
# --grace, children of a script included; a loss noticed only at release
# (between two checks) still exits 70 and says so.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

name="$UNIQ"
terminate() { # the backend whose application_name is $1
  [[ "$(sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = '$1'")" == 1 ]] || fail "no backend named $1"
}

# 1. PROGRAM handles SIGTERM.
app=$UNIQ-1
PGAPPNAME=$app "$SQLLOCK" run --check-every 500ms "$name" -- bash -c \
  'trap "echo TERM >\"$1\"; exit 0" TERM; echo up >"$2"; while :; do sleep 0.1; done' \
  sh "$TMP/got" "$TMP/up" 2>"$TMP/err" &
pid=$!
wait_until 10 test -s "$TMP/up"
t0=$(now_ms)
terminate "$app"
bounded_wait 10 "$pid"
ms=$(($(now_ms) - t0))
((RC == 70)) || fail "exit $RC, not 70 ($(cat "$TMP/err"))"
[[ "$(cat "$TMP/got" 2>/dev/null)" == TERM ]] || fail "PROGRAM did not get SIGTERM"
((ms < 500 + 1500)) || fail "took ${ms}ms; --check-every is 500ms"
grep -q "^sqllock: lock \"$name\" lost while 'bash' ran (.*); stopping it$" "$TMP/err" ||
  fail "stderr: $(cat "$TMP/err")"
[[ "$(grep -c '^sqllock:' "$TMP/err")" == 1 ]] || fail "more than one line: $(cat "$TMP/err")"
ok "backend terminated: PROGRAM got SIGTERM, exit 70 after ${ms}ms (--check-every 500ms)"
"$SQLLOCK" run -n "$name" -- true || fail "the lock is not free afterwards"

# 2. PROGRAM ignores SIGTERM, and has a child of its own.
app=$UNIQ-2
PGAPPNAME=$app "$SQLLOCK" run --check-every 200ms --grace 1s "$name" -- bash -c \
  'trap "" TERM; sleep 60 & echo $! >"$1"; wait' sh "$TMP/child" 2>"$TMP/err" &
pid=$!
wait_until 10 test -s "$TMP/child"
child=$(cat "$TMP/child")
t0=$(now_ms)
terminate "$app"
bounded_wait 10 "$pid"
ms=$(($(now_ms) - t0))
((RC == 70)) || fail "exit $RC, not 70 ($(cat "$TMP/err"))"
((ms >= 1000 && ms < 200 + 1000 + 1500)) || fail "took ${ms}ms; check 200ms + grace 1s"
grep -q "did not exit within the grace period; sending SIGKILL" "$TMP/err" || fail "$(cat "$TMP/err")"
gone() { [[ ! "$(ps -o stat= -p "$child" 2>/dev/null)" =~ ^[^Z] ]]; }
wait_until 5 gone
ok "PROGRAM ignoring SIGTERM: SIGKILL after --grace (${ms}ms), its child gone too, exit 70"

# 3. Lost between two checks: noticed at release.
app=$UNIQ-3
gate_close "$TMP/hold"
PGAPPNAME=$app "$SQLLOCK" run --check-every 1h "$name" -- flock -w 20 "$TMP/hold" true 2>"$TMP/err" &
pid=$!
key=$(key_of "$name")
wait_until 10 count_is 1 "$key" t "$app"
terminate "$app"
gate_open
bounded_wait 10 "$pid"
((RC == 70)) || fail "exit $RC, not 70 ($(cat "$TMP/err"))"
grep -q "^sqllock: lock \"$name\" was lost at some point while 'flock' ran (.*); it exited with status 0$" "$TMP/err" ||
  fail "stderr: $(cat "$TMP/err")"
ok "a loss found at release: exit 70, PROGRAM's own status in the message"
