#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that the checker (checker.c) finds each kind of violation A-E (A
# also as N + 1 holders of a counting semaphore of N, --max-holders) in
# small synthetic histories and server dumps, that it accepts a clean run,
# and that its cuts (lease deadline, session_gone, the end of an
# indeterminate acquire) neither hide an overlap they must not nor invent
# one. Needs no server.   usage: test_checker.sh CHECKER
set -euo pipefail
CHECKER=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/sqllock-checker.XXXXXX")
trap 'rm -rf "$T"' EXIT
failures=0

# ev FILE MONO PROC EVENT [NAME [TOKEN [DETAIL]]]: one history line.
ev() { printf '%s\t%s\t%s\t%s\t%s\t-\t%s\n' "$2" "$3" "$4" "${5:--}" "${6:--}" "${7:--}" >>"$1"; }

# A fresh case directory with clean server dumps (two writes, two grants).
new_case() {
  C=$T/$1
  mkdir -p "$C/h" "$C/s"
  printf '1\tn\t1\tp1\t\\N\tts\n2\tn\t2\tp2\t\\N\tts\n' >"$C/s/counter_log.tsv"
  printf 'n\t2\t0\n' >"$C/s/counters.tsv"
  printf '1\tn\t1\tp1\tts\tt\n2\tn\t2\tp2\tts\tt\n3\tn\t1\tp1\tts\tf\n' >"$C/s/fence_log.tsv"
  printf '1\tn\t1\tts\n2\tn\t2\tts\n' >"$C/s/grant_log.tsv"
}

# Two clean rounds: p1 holds 100-200, p2 holds 300-400 (ms).
clean_rounds() {
  ev "$C/h/p1" 90000000 p1 acquire_invoke n
  ev "$C/h/p1" 100000000 p1 acquire_ok n 1 backend=11
  ev "$C/h/p1" 200000000 p1 release_invoke n 1
  ev "$C/h/p1" 210000000 p1 release_ok n 1 OK
  ev "$C/h/p2" 150000000 p2 acquire_invoke n
  ev "$C/h/p2" 300000000 p2 acquire_ok n 2 backend=12
  ev "$C/h/p2" 400000000 p2 release_invoke n 2
}

# expect CASE WANT_RC [checker options]: runs the checker on case CASE.
expect() {
  local name=$1 want=$2 rc=0
  shift 2
  "$CHECKER" --history "$T/$name/h" --server "$T/$name/s" "$@" >"$T/$name.out" 2>&1 || rc=$?
  if ((rc == want)); then echo "ok - $name (exit $rc)"
  else echo "not ok - $name: exit $rc, expected $want"; sed 's/^/    /' "$T/$name.out"; failures=$((failures + 1)); fi
}
# expect_line CASE REGEX: the checker's output for CASE says so.
expect_line() {
  if grep -Eq "$2" "$T/$1.out"; then echo "ok - $1 reports /$2/"
  else echo "not ok - $1: no line matches /$2/"; sed 's/^/    /' "$T/$1.out"; failures=$((failures + 1)); fi
}

new_case clean; clean_rounds
expect clean 0
expect_line clean '"A":0,"B":0,"C":0,"D":0,"E":0'
expect clean 1 --expect-violations

new_case overlap; clean_rounds
ev "$C/h/p3" 350000000 p3 acquire_ok n 3
ev "$C/h/p3" 360000000 p3 release_invoke n 3
expect overlap 1
expect overlap 0 --expect A
expect_line overlap 'violation A: n: p2 and p3'
expect overlap 1 --expect A,B
# A counting semaphore of 2: two holders at once are allowed, three are not.
expect overlap 0 --max-holders 2
ev "$C/h/p4" 355000000 p4 acquire_ok n 4
ev "$C/h/p4" 358000000 p4 release_invoke n 4
expect overlap 1 --max-holders 2
expect overlap 0 --max-holders 2 --expect A
expect_line overlap 'violation A: n: 3 holders at once \(at most 2\), the last p4'
expect overlap 0 --max-holders 3
expect overlap 2 --max-holders 0

new_case lost_update; clean_rounds
printf '1\tn\t1\tp1\t\\N\tts\n2\tn\t1\tp2\t\\N\tts\n' >"$C/s/counter_log.tsv"
printf 'n\t1\t0\n' >"$C/s/counters.tsv"
expect lost_update 0 --expect B
expect_line lost_update 'violation B: counter n: value 1 written where 2'

new_case final_counter; clean_rounds
printf 'n\t3\t0\n' >"$C/s/counters.tsv"
expect final_counter 0 --expect B

new_case fence; clean_rounds
printf '1\tn\t2\tp2\tts\tt\n2\tn\t3\tp3\tts\tt\n3\tn\t1\tp1\tts\tt\n' >"$C/s/fence_log.tsv"
expect fence 0 --expect C
expect_line fence 'token 1 accepted after token 3'

new_case grants; clean_rounds
printf '1\tn\t1\tts\n2\tn\t2\tts\n3\tn\t2\tts\n' >"$C/s/grant_log.tsv"
expect grants 0 --expect D

# A token going back as the clients saw it: p3's grant was invoked after
# p2's (token 2) had returned. Invoked before it returned, the same token
# proves nothing: the server may have granted p3's first.
new_case token_back; clean_rounds
ev "$C/h/p3" 410000000 p3 acquire_invoke n
ev "$C/h/p3" 420000000 p3 acquire_ok n 2
ev "$C/h/p3" 430000000 p3 release_invoke n 2
expect token_back 0 --expect E
expect_line token_back 'violation E: n: p3 was granted token 2 after token 2'
sed -i 's/^410000000/250000000/' "$C/h/p3"
expect token_back 0

# A lease ends at its client-side deadline even if released later.
new_case lease_deadline; clean_rounds
ev "$C/h/p3" 410000000 p3 acquire_ok n 3 deadline_ns=500000000
ev "$C/h/p4" 520000000 p4 acquire_ok n 4 deadline_ns=700000000
ev "$C/h/p3" 600000000 p3 release_invoke n 3
ev "$C/h/p4" 650000000 p4 release_invoke n 4
expect lease_deadline 0
sed -i 's/deadline_ns=500000000/deadline_ns=530000000/' "$C/h/p3"
expect lease_deadline 1

# Indeterminate: held from its invoke until the proc's next invoke, and since
# it may not have taken effect, its overlaps are only counted as possible.
new_case indeterminate; clean_rounds
ev "$C/h/p3" 410000000 p3 acquire_invoke n - ttl_ms=0
ev "$C/h/p3" 420000000 p3 acquire_indeterminate n - ECONNECT
ev "$C/h/p4" 450000000 p4 acquire_ok n 4
ev "$C/h/p4" 460000000 p4 release_invoke n 4
ev "$C/h/p3" 480000000 p3 acquire_invoke n - ttl_ms=0
expect indeterminate 0
expect_line indeterminate '"possible_A":1,'
sed -i 's/^480000000/440000000/' "$C/h/p3"
expect indeterminate 0
expect_line indeterminate '"possible_A":0,'


# session_gone cuts the victim's session lock where the server freed it, and
# the checker measures detection from there; without it, an overlap.
new_case session_gone; clean_rounds
ev "$C/h/p3" 410000000 p3 acquire_ok n - backend=13
ev "$C/h/p4" 460000000 p4 acquire_ok n - backend=14
ev "$C/h/p4" 470000000 p4 release_invoke n -
ev "$C/h/p3" 480000000 p3 lost n - ECONNECT
expect session_gone 0 --expect A
ev "$C/h/inj" 450000000 p3 session_gone - - backend=99
expect session_gone 0 --expect A
ev "$C/h/inj" 450000000 p3 session_gone - - backend=13
expect session_gone 0
expect_line session_gone 'detection session_gone->noticed: n=1 min=30.0ms'
# A server stop: every session of p3 started before until_ns is gone.
new_case server_stop; clean_rounds
ev "$C/h/inj" 450000000 p3 session_gone - - until_ns=455000000
ev "$C/h/p3" 452000000 p3 acquire_ok n - backend=13
ev "$C/h/p4" 460000000 p4 acquire_ok n - backend=14
ev "$C/h/p4" 470000000 p4 release_invoke n -
ev "$C/h/p3" 480000000 p3 lost n - ECONNECT
expect server_stop 0
sed -i 's/until_ns=455000000/until_ns=451000000/' "$C/h/inj"
expect server_stop 0 --expect A

# A history that ends while holding (the client died or hung) holds to the
# end of the run: a later holder overlaps it.
new_case ends_holding; clean_rounds
ev "$C/h/p3" 410000000 p3 acquire_ok n 3
ev "$C/h/p4" 900000000 p4 acquire_ok n 4
ev "$C/h/p4" 910000000 p4 release_invoke n 4
expect ends_holding 0 --expect A
expect_line ends_holding 'violation A: n: p3 and p4'

new_case malformed; clean_rounds
printf 'x\tp1\tacquire_ok\tn\t-\t-\t-\n' >>"$C/h/p1"
expect malformed 2
new_case unknown_event; clean_rounds
ev "$C/h/p1" 500000000 p1 acquired n
expect unknown_event 2

((failures == 0)) || { echo "FAIL: checker: $failures check(s) failed"; exit 1; }
echo "PASS: checker"
