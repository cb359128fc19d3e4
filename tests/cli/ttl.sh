#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that `run --ttl` never lets PROGRAM outlive its lease: PROGRAM is
# stopped (SIGTERM, then SIGKILL) by the lease's client-side deadline
# (acquire start + ttl) whatever --check-every says, sqllock exits 70, and
# a second `run` of the same name, waiting meanwhile, starts its PROGRAM only
# after the first one has stopped: never two at once. Each PROGRAM appends a
# timestamp (ms, wall clock) to its own file every 50 ms while it runs, so
# the last line of a file is no earlier than when it last ran. The second
# run waited for its lease; that its 1 s PROGRAM then runs to the end (exit
# 0) shows its deadline counts from when it got the lease, not from when it
# began to wait.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL

ttl_ms=3000
# PROGRAM: heartbeats into $1 for at most $2 iterations (bounded), then exits 0.
beat='for ((i = 0; i < $2; i++)); do echo $(($(date +%s%N) / 1000000)) >>"$1"; sleep 0.05; done'

# case LABEL TRAP RUN-OPTIONS...: the first run's PROGRAM sets TRAP for
# SIGTERM and would beat for ~12 s; the second waits and beats for ~1 s.
case_() {
  local label=$1 trap=$2 p1 p2 rc1
  shift 2
  local f1=$TMP/$label.1 f2=$TMP/$label.2 e1=$TMP/$label.err1 name=$UNIQ-$label
  "$SQLLOCK" run --ttl 3s "$@" "$name" -- bash -c "$trap; $beat" sh "$f1" 240 2>"$e1" &
  p1=$!
  wait_until 10 test -s "$f1"
  # --grace 200ms: its PROGRAM may run 2.7 s of the 3 s (default: 1.4 s).
  "$SQLLOCK" run -w 20s --ttl 3s --grace 200ms "$name" -- bash -c "$beat" sh "$f2" 20 \
    2>"$TMP/$label.err2" &
  p2=$!
  bounded_wait 20 "$p1"
  rc1=$RC
  bounded_wait 20 "$p2"
  ((rc1 == 70)) || fail "$label: first run exit $rc1, not 70 ($(cat "$e1"))"
  ((RC == 0)) || fail "$label: second run exit $RC, not 0 ($(cat "$TMP/$label.err2"))"
  local first1 last1 first2
  first1=$(head -n1 "$f1") last1=$(tail -n1 "$f1") first2=$(head -n1 "$f2")
  ((last1 - first1 < ttl_ms)) ||
    fail "$label: first PROGRAM ran $((last1 - first1))ms, past its ${ttl_ms}ms lease"
  ((last1 < first2)) ||
    fail "$label: two PROGRAMs at once: the first ran until $last1, the second began at $first2"
  ERR=$(cat "$e1")
  ok "$label: first PROGRAM ran $((last1 - first1))ms of a ${ttl_ms}ms lease, exit 70;" \
    "the second began $((first2 - last1))ms after it last ran"
}

# 1. PROGRAM exits on SIGTERM; checks every 5 s (the default) would be too late.
case_ term 'trap "exit 0" TERM'
grep -q "^sqllock: lease \"$UNIQ-term\" ends in [0-9]*ms (--ttl 3000ms); stopping 'bash'$" <<<"$ERR" ||
  fail "stderr: $ERR"
[[ "$(grep -c '^sqllock:' <<<"$ERR")" == 1 ]] || fail "more than one line: $ERR"

# 2. PROGRAM ignores SIGTERM; checks far apart: SIGKILL when the lease ends.
case_ kill 'trap "" TERM' --check-every 1h --grace 500ms
grep -q "^sqllock: '.*' did not exit before lease \"$UNIQ-kill\" ended; sending SIGKILL$" <<<"$ERR" ||
  fail "stderr: $ERR"
