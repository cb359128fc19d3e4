#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves try-once (-n): of 8 `sqllock run -n` started at once, exactly one
# runs PROGRAM and the other 7 exit 75 without running it; -E picks that
# status. Also proves shared mode (-s): shared holders run side by side,
# an exclusive try against them is busy.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

N=8
name="$UNIQ"
ran=$TMP/ran
: >"$ran"

# All N start together when the start gate opens; the one that gets the
# lock stays in PROGRAM until the other N-1 have given up.
gate_close "$TMP/start"
start_gate=$GATE_FD
gate_close "$TMP/hold"
hold_gate=$GATE_FD
pids=()
for i in $(seq 1 $N); do
  (flock -s -w 20 "$TMP/start" true &&
    exec "$SQLLOCK" run -n "$name" -- sh -c 'echo "$1" >>"$2"; flock -w 20 "$3" true' \
      sh "$i" "$ran" "$TMP/hold") &
  pids+=($!)
done
GATE_FD=$start_gate gate_open

# The losers end by themselves while the winner still holds the lock.
alive() {
  local n=0 pid
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}
one_alive() { [[ "$(alive)" == 1 ]]; }
wait_until 15 one_alive
winner=
for pid in "${pids[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then winner=$pid; continue; fi
  RC=0
  wait "$pid" || RC=$?
  ((RC == 75)) || fail "a loser exited $RC, not 75"
done
GATE_FD=$hold_gate gate_open
bounded_wait 15 "$winner"
((RC == 0)) || fail "the winner exited $RC"
[[ "$(wc -l <"$ran")" == 1 ]] || fail "PROGRAM ran $(wc -l <"$ran") times: $(cat "$ran")"
ok "of $N started at once with -n, exactly one ran PROGRAM; $((N - 1)) exited 75"

# -E: another status for a busy lock; PROGRAM does not run.
gate_close "$TMP/hold"
"$SQLLOCK" run "$name" -- flock -w 20 "$TMP/hold" true &
holder=$!
key=$(key_of "$name")
wait_until 10 count_is 1 "$key" t
for code in 3 0 255; do
  rc=0
  "$SQLLOCK" run -n -E "$code" "$name" -- touch "$TMP/E-ran" 2>"$TMP/err" || rc=$?
  ((rc == code)) || fail "-E $code: exit $rc"
  [[ ! -e "$TMP/E-ran" && ! -s "$TMP/err" ]] || fail "-E $code: PROGRAM ran or stderr: $(cat "$TMP/err")"
done
ok "-E CODE replaces 75, quietly, and PROGRAM does not run"
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"

# Shared: a second shared holder runs at once; an exclusive try is busy.
gate_close "$TMP/hold"
"$SQLLOCK" run --shared "$name" -- flock -w 20 "$TMP/hold" true &
holder=$!
wait_until 10 count_is 1 "$key" t
rc=0
"$SQLLOCK" run -n -s "$name" -- sh -c "\"$SQLLOCK\" status \"$name\" >\"$TMP/st\"" || rc=$?
((rc == 1)) || fail "the second shared holder: status inside exited $rc, want 1 (held)"
[[ "$(grep -c 'state=held mode=shared' "$TMP/st")" == 2 ]] ||
  fail "status did not show two shared holders: $(cat "$TMP/st")"
rc=0
"$SQLLOCK" run -n "$name" -- true || rc=$?
((rc == 75)) || fail "exclusive try against a shared holder: exit $rc"
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "shared holder exited $RC"
ok "--shared holders run side by side and keep an exclusive one out"
