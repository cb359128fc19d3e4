#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves signal handling of `run`: SIGTERM, SIGINT or SIGHUP while it waits
# for the lock ends it promptly (128+N) holding nothing, and PROGRAM never
# runs; while PROGRAM runs, each of them is passed on to PROGRAM exactly
# once, even while the database does not answer; a signal ignored at start
# stays ignored. Also the exit statuses that come from PROGRAM: its own,
# 128+N when a signal killed it, 127 when it does not exist, 126 when it
# cannot be executed.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

name="$UNIQ"
key=$(key_of "$name")
declare -A num=([HUP]=1 [INT]=2 [TERM]=15)

# While waiting.
hold_gated "$name" "$key"
holder=$HOLDER
for sig in TERM INT HUP; do
  app=$UNIQ-wait-$sig
  (PGAPPNAME=$app default_signals "$SQLLOCK" run "$name" -- touch "$TMP/ran") &
  pid=$!
  wait_until 10 count_is 1 "$key" f "$app"
  t0=$(now_ms)
  kill -"$sig" "$pid"
  bounded_wait 5 "$pid"
  ms=$(($(now_ms) - t0))
  ((RC == 128 + num[$sig])) || fail "SIG$sig while waiting: exit $RC"
  ((ms < 1000)) || fail "SIG$sig while waiting: took ${ms}ms"
  [[ "$(lock_count "$key" t "$app")$(lock_count "$key" f "$app")" == 00 ]] ||
    fail "SIG$sig while waiting: its session still holds or waits"
  ok "SIG$sig while waiting: exit $RC after ${ms}ms, nothing held or waited for"
done
[[ ! -e "$TMP/ran" ]] || fail "PROGRAM ran"
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"
"$SQLLOCK" run -n "$name" -- true || fail "the lock is not free"
ok "afterwards the lock is free and PROGRAM never ran"

# While PROGRAM runs: passed on, once.
cat >"$TMP/prog.sh" <<'SH'
for s in TERM INT HUP; do trap "echo $s >>'$1'; exit 0" "$s"; done
echo up >"$2"
while :; do sleep 0.05; done
SH
for sig in TERM INT HUP; do
  rm -f "$TMP/got" "$TMP/up"
  (default_signals "$SQLLOCK" run "$name" -- bash "$TMP/prog.sh" "$TMP/got" "$TMP/up") &
  pid=$!
  wait_until 10 test -s "$TMP/up"
  kill -"$sig" "$pid"
  bounded_wait 10 "$pid"
  ((RC == 0)) || fail "SIG$sig forwarded: exit $RC"
  [[ "$(cat "$TMP/got")" == "$sig" ]] || fail "PROGRAM got '$(cat "$TMP/got")', not $sig once"
  ok "SIG$sig to sqllock reaches PROGRAM once"
done

# A database that stops answering (its backend stopped, as a network that
# drops packets would look) must not keep signals from reaching PROGRAM:
# the checks run on a thread of their own.
if ((EUID == 0)); then
  rm -f "$TMP/got" "$TMP/up"
  app=$UNIQ-hung
  (PGAPPNAME=$app default_signals "$SQLLOCK" run --check-every 100ms "$name" -- \
    bash "$TMP/prog.sh" "$TMP/got" "$TMP/up") &
  pid=$!
  wait_until 10 test -s "$TMP/up"
  backend=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
  on_exit "kill -CONT $backend 2>/dev/null"
  kill -STOP "$backend"
  sql "SELECT pg_sleep(0.5)" >/dev/null # several check intervals: one is stuck now
  kill -TERM "$pid"
  wait_until 3 test -s "$TMP/got"
  [[ "$(cat "$TMP/got")" == TERM ]] || fail "PROGRAM got $(cat "$TMP/got")"
  kill -CONT "$backend"
  bounded_wait 10 "$pid"
  ((RC == 0)) || fail "exit $RC after the backend went on"
  ok "SIGTERM reaches PROGRAM while the database does not answer"
else
  ok "SKIPPED the unresponsive-database case: stopping a backend needs root"
fi

# Ignored at start (bash's background jobs ignore SIGINT): stays ignored.
rm -f "$TMP/got" "$TMP/up"
"$SQLLOCK" run "$name" -- bash "$TMP/prog.sh" "$TMP/got" "$TMP/up" &
pid=$!
wait_until 10 test -s "$TMP/up"
kill -INT "$pid"
sql "SELECT pg_sleep(0.3)" >/dev/null # time for a wrongly delivered signal to land
kill -0 "$pid" || fail "SIGINT, ignored at start, ended sqllock"
[[ ! -e "$TMP/got" ]] || fail "PROGRAM got SIGINT although it was ignored at start"
kill -TERM "$pid"
bounded_wait 10 "$pid"
[[ "$RC" == 0 && "$(cat "$TMP/got")" == TERM ]] || fail "exit $RC"
ok "a signal ignored at start stays ignored, for PROGRAM too"

# Statuses from PROGRAM.
check_rc() {
  local want=$1 rc=0
  shift
  "$SQLLOCK" run "$name" -- "$@" 2>"$TMP/err" || rc=$?
  ((rc == want)) || fail "'$*': exit $rc, want $want"
}
check_rc 0 true
check_rc 7 sh -c 'exit 7'
check_rc 138 sh -c 'kill -USR1 $$'
check_rc 137 sh -c 'kill -KILL $$'
check_rc 127 "$TMP/no-such-program"
grep -q "^sqllock: cannot run '$TMP/no-such-program': No such file or directory$" "$TMP/err" ||
  fail "127: $(cat "$TMP/err")"
: >"$TMP/not-executable"
check_rc 126 "$TMP/not-executable"
grep -q "^sqllock: cannot run .*: Permission denied$" "$TMP/err" || fail "126: $(cat "$TMP/err")"
check_rc 0 sh -c '[ "$1" = "a b" ] && [ "$2" = "*" ]' sh "a b" "*"
ok "PROGRAM's status, 128+N for a signal, 127 and 126; arguments passed as they are"
