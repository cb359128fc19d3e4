#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that `run --ttl` keeps PROGRAM protected for as long as it runs, and
# never lets it outlive its lease:
# 1. renewed: a 1 s lease is renewed every third of its ttl, so a 3 s PROGRAM
#    runs to its end (exit 0) while other runs of the name are refused;
# 2. reconnect: the holder's backend is terminated while PROGRAM runs; the
#    next renewal reconnects and renews in time, and PROGRAM runs to its end;
# 3. term / kill: the holder's backend is stopped (SIGSTOP: a server that no
#    longer answers), so renewals hang; PROGRAM is stopped (SIGTERM, or
#    SIGKILL when it ignores SIGTERM, whatever --check-every says) before the
#    lease's client-side deadline (acquire sent + ttl), sqllock exits 70
#    (the hung renewal is given up at that deadline), and a second run of
#    the same name, waiting meanwhile, starts its PROGRAM only after the
#    first one has stopped: never two at once;
# 4. advisory: the holder's backend is stopped while PROGRAM runs; the lock
#    is still the stopped session's, so PROGRAM runs to its end, and
#    sqllock then exits with its status 3 s later without waiting on the
#    hung check, leaving the session to the server (freed once resumed).
# Each PROGRAM appends a timestamp (ms, wall clock) to its own file every
# 50 ms while it runs, so the last line of a file is no earlier than when it
# last ran. A holder's backend is found by its application_name (PGAPPNAME).
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL

# PROGRAM: heartbeats into $1 for at most $2 iterations (bounded), then exits 0.
beat='for ((i = 0; i < $2; i++)); do echo $(($(date +%s%N) / 1000000)) >>"$1"; sleep 0.05; done'

backend_of() { sql "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"; }
span() { echo $(($(tail -n1 "$1") - $(head -n1 "$1"))); }
# refused_then_done LABEL NAME PID: another run of NAME is refused (75)
# while PID holds it; then PID exits 0.
refused_then_done() {
  local rc=0
  "$SQLLOCK" run -n --ttl 1s "$2" -- true || rc=$?
  ((rc == 75)) || fail "$1: another run while the lease was kept alive: exit $rc, not 75"
  bounded_wait 20 "$3"
  ((RC == 0)) || fail "$1: exit $RC, not 0 ($(cat "$TMP/$1.err"))"
}

# 1. Renewed past its ttl: 3 s of a 1 s lease, others refused meanwhile.
name=$UNIQ-renewed f=$TMP/renewed
"$SQLLOCK" run --ttl 1s "$name" -- bash -c "$beat" sh "$f" 60 2>"$TMP/renewed.err" &
p=$!
wait_until 10 test -s "$f"
wait_until 10 eval '(($(span "$f") >= 1500))'
refused_then_done renewed "$name" "$p"
((($(span "$f")) >= 2500)) || fail "renewed: PROGRAM ran only $(span "$f") ms"
ok "renewed: PROGRAM ran $(span "$f") ms of a 1 s lease kept alive, exit 0; others refused"

# 2. The holder's connection is ended: reconnect and renew within the ttl.
name=$UNIQ-reconnect f=$TMP/reconnect app=$UNIQ-h-reconnect
PGAPPNAME=$app "$SQLLOCK" run --ttl 2s "$name" -- bash -c "$beat" sh "$f" 80 \
  2>"$TMP/reconnect.err" &
p=$!
wait_until 10 test -s "$f"
old=$(backend_of "$app")
[[ -n "$old" ]] || fail "reconnect: no backend named $app"
sql "SELECT pg_terminate_backend($old, 5000)" >/dev/null
wait_until 10 eval '[[ -n "$(backend_of "$app")" ]]'
refused_then_done reconnect "$name" "$p"
[[ "$(backend_of "$app")" == "" ]] || fail "reconnect: the holder's session outlived it"
ok "reconnect: backend $old terminated; the holder reconnected, renewed, and PROGRAM ran" \
  "$(span "$f") ms of a 2 s lease, exit 0"

ttl_ms=3000
# case LABEL TRAP RUN-OPTIONS...: the first run's PROGRAM sets TRAP for
# SIGTERM and would beat for ~12 s; once it runs, its backend is stopped;
# the second waits and beats for ~1 s.
case_() {
  local label=$1 trap=$2 p1 p2 rc1 backend
  shift 2
  local f1=$TMP/$label.1 f2=$TMP/$label.2 e1=$TMP/$label.err1 name=$UNIQ-$label
  PGAPPNAME=$UNIQ-h-$label "$SQLLOCK" run --ttl 3s "$@" "$name" -- \
    bash -c "$trap; $beat" sh "$f1" 240 2>"$e1" &
  p1=$!
  wait_until 10 test -s "$f1"
  backend=$(backend_of "$UNIQ-h-$label")
  [[ -n "$backend" ]] || fail "$label: no backend named $UNIQ-h-$label"
  kill -STOP "$backend"
  on_exit "kill -CONT $backend 2>/dev/null"
  # --grace 200ms: its PROGRAM may run 2.7 s of the 3 s (default: 1.4 s).
  "$SQLLOCK" run -w 20s --ttl 3s --grace 200ms "$name" -- bash -c "$beat" sh "$f2" 20 \
    2>"$TMP/$label.err2" &
  p2=$!
  bounded_wait 20 "$p1"
  rc1=$RC
  kill -CONT "$backend"
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
  ok "$label: renewals hung; first PROGRAM ran $((last1 - first1))ms of a ${ttl_ms}ms lease," \
    "exit 70; the second began $((first2 - last1))ms after it last ran"
}

# 3a. PROGRAM exits on SIGTERM; checks every 5 s (the default) would be too late.
case_ term 'trap "exit 0" TERM'
grep -q "^sqllock: lease \"$UNIQ-term\" was not renewed and may end in [0-9]*ms (--ttl 3000ms); stopping 'bash'$" <<<"$ERR" ||
  fail "stderr: $ERR"
[[ "$(grep -c '^sqllock:' <<<"$ERR")" == 1 ]] || fail "more than one line: $ERR"

# 3b. PROGRAM ignores SIGTERM; checks far apart: SIGKILL when the lease ends.
case_ kill 'trap "" TERM' --check-every 1h --grace 500ms
grep -q "^sqllock: '.*' did not exit before lease \"$UNIQ-kill\" ended; sending SIGKILL$" <<<"$ERR" ||
  fail "stderr: $ERR"

# 4. An advisory lock on a server that stops answering: the check hangs, but
#    sqllock still ends when PROGRAM does (3 s later, not releasing).
name=$UNIQ-adv-stopped app=$UNIQ-h-adv
gate_close "$TMP/adv"
PGAPPNAME=$app "$SQLLOCK" run --check-every 200ms "$name" -- flock -w 20 "$TMP/adv" true \
  2>"$TMP/adv.err" &
p=$!
key=$(key_of "$name")
wait_until 10 count_is 1 "$key" t "$app"
backend=$(backend_of "$app")
kill -STOP "$backend"
on_exit "kill -CONT $backend 2>/dev/null"
sleep 0.5 # pacing: a check (every 200 ms) is then stuck on the stopped backend
gate_open
t0=$(($(date +%s%N) / 1000000))
bounded_wait 20 "$p"
took=$(($(date +%s%N) / 1000000 - t0))
((RC == 0)) || fail "adv-stopped: exit $RC, not PROGRAM's 0 ($(cat "$TMP/adv.err"))"
grep -q "^sqllock: the database did not answer; not releasing" "$TMP/adv.err" ||
  fail "adv-stopped: stderr: $(cat "$TMP/adv.err")"
kill -CONT "$backend"
wait_until 10 count_is 0 "$key" t
ok "adv-stopped: PROGRAM ran to its end; sqllock exited ${took} ms after it, not releasing;" \
  "the server freed the lock once its backend resumed"
