#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that SIGKILL to `sqllock run` while PROGRAM runs leaves nothing
# behind: the server frees the lock with the session (the next run gets it),
# PROGRAM is sent SIGTERM by the kernel (parent-death signal) rather than
# going on unprotected, and no process or session holds the lock.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

name="$UNIQ"
key=$(key_of "$name")
app=$UNIQ-victim
PGAPPNAME=$app "$SQLLOCK" run "$name" -- bash -c \
  'trap "echo TERM >\"$1\"; exit 0" TERM; echo $$ >"$2"; while :; do sleep 0.05; done' \
  sh "$TMP/got" "$TMP/up" &
pid=$!
wait_until 10 test -s "$TMP/up"
prog=$(cat "$TMP/up")
count_is 1 "$key" t "$app" || fail "the lock is not held by $app"

kill -KILL "$pid"
bounded_wait 5 "$pid"
((RC == 137)) || fail "sqllock exited $RC"
t0=$(now_ms) rc=0
"$SQLLOCK" run -w 10s "$name" -- true || rc=$?
((rc == 0)) || fail "the next run exited $rc"
ok "after SIGKILL to sqllock the next run got the lock ($(($(now_ms) - t0))ms)"

wait_until 5 test -s "$TMP/got"
[[ "$(cat "$TMP/got")" == TERM ]] || fail "PROGRAM did not get SIGTERM"
gone() { ! kill -0 "$prog" 2>/dev/null || [[ "$(ps -o stat= -p "$prog")" == Z* ]]; }
wait_until 5 gone
[[ "$(lock_count "$key" t)$(lock_count "$key" f)" == 00 ]] || fail "something still holds it"
ok "the orphaned PROGRAM got SIGTERM and ended; nothing holds the lock"
