#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves -v: while `run` waits, stderr says what it waits for and who holds
# it (the holder's backend pid and application_name, from pg_locks and
# pg_stat_activity), again every few seconds; -n -v says who held it (of
# several NAMEs, those held, each with its holder); a
# run that gets the lock says so and how PROGRAM exited.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

name="$UNIQ"
key=$(key_of "$name")
hold_gated "$name" "$key"
holder=$HOLDER
hpid=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'sqllock[$holder]@%'")
[[ "$hpid" =~ ^[0-9]+$ ]] || fail "no backend with application_name sqllock[$holder]@..."

rc=0
"$SQLLOCK" -v run -w 4s "$name" -- true 2>"$TMP/err" || rc=$?
((rc == 75)) || fail "exit $rc"
cat "$TMP/err"
grep -q "^sqllock: waiting for lock \"$name\" (key $key): held by$" "$TMP/err" ||
  fail "no 'waiting for' line"
grep -Eq "^sqllock:   state=held mode=exclusive pid=$hpid client=local application_name=sqllock\[$holder\]@[^ ]+ session_start=[0-9-]+T[0-9:]+Z$" "$TMP/err" ||
  fail "the holder's line is missing or wrong"
grep -q "^sqllock: still waiting ([0-9]*s) for lock \"$name\"" "$TMP/err" ||
  fail "no report a few seconds later"
grep -q "^sqllock: gave up waiting for lock \"$name\" after 4000ms$" "$TMP/err" || fail "no give-up line"
ok "-v while waiting names the holder, and again later"

rc=0
"$SQLLOCK" run -v -n "$name" -- true 2>"$TMP/err" || rc=$?
((rc == 75)) || fail "-n -v: exit $rc"
grep -q "^sqllock: could not take lock \"$name\" (key $key): held by$" "$TMP/err" &&
  grep -q "pid=$hpid " "$TMP/err" || fail "-n -v: $(cat "$TMP/err")"
ok "-n -v says who holds it"

# Several NAMEs: the reports name the ones someone holds, each with its
# holder, and not the free one.
free_name="$UNIQ-free"
rc=0
"$SQLLOCK" run -v -n "$free_name" "$name" -- true 2>"$TMP/err" || rc=$?
((rc == 75)) || fail "-n -v, two names: exit $rc"
grep -q "^sqllock: could not take lock \"$name\" (key $key): held by$" "$TMP/err" &&
  grep -q "pid=$hpid " "$TMP/err" && ! grep -q "$free_name" "$TMP/err" ||
  fail "-n -v, two names: $(cat "$TMP/err")"
rc=0
"$SQLLOCK" -v run -w 1s "$free_name" "$name" -- true 2>"$TMP/err" || rc=$?
((rc == 75)) || fail "-v -w, two names: exit $rc"
grep -q "^sqllock: waiting for lock \"$name\" (key $key): held by$" "$TMP/err" &&
  ! grep -q "lock \"$free_name\" (key" "$TMP/err" || fail "-v -w, two names: $(cat "$TMP/err")"
ok "-v with several names reports the held ones and their holders"

gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"
rc=0
"$SQLLOCK" --url "$SQLLOCK_TEST_URL" run -v "$name" -- sh -c 'exit 3' 2>"$TMP/err" || rc=$?
((rc == 3)) || fail "exit $rc"
grep -q "^sqllock: took lock \"$name\" after [0-9]*ms$" "$TMP/err" &&
  grep -q "^sqllock: holding lock \"$name\"; running 'sh' (pid [0-9]*)$" "$TMP/err" &&
  grep -q "^sqllock: 'sh' exited with status 3; released lock \"$name\"$" "$TMP/err" ||
  fail "-v on a free lock: $(cat "$TMP/err")"
ok "-v on a free lock says it took it and how PROGRAM exited"
