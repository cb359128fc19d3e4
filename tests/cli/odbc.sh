#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves `run` over an odbc: URL (PostgreSQL through psqlODBC, the
# pg-advisory backend): it and `run` over libpq exclude each other, as they
# share one advisory key; -v says it waits without naming holders (that
# needs pg_locks over libpq); status and list refuse odbc: URLs with a
# usage error, and no message shows the password.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL SQLLOCK_TEST_ODBC_PG_URL
ODBC=$SQLLOCK_TEST_ODBC_PG_URL
PW=s3cret-Pa55

name="$UNIQ"
key=$(key_of "$name")
hold_gated "$name" "$key"
holder=$HOLDER

rc=0
"$SQLLOCK" --url "$ODBC" run -n "$name" -- touch "$TMP/ran" || rc=$?
((rc == 75)) && [[ ! -e "$TMP/ran" ]] || fail "odbc run -n against a libpq holder: exit $rc"
rc=0
"$SQLLOCK" --url "$ODBC" run -v -w 1s "$name" -- true 2>"$TMP/err" || rc=$?
((rc == 75)) || fail "odbc run -w 1s: exit $rc"
grep -qx "sqllock: waiting for lock \"$name\" (who holds it is shown for PostgreSQL URLs only)" \
  "$TMP/err" || fail "-v over odbc: $(cat "$TMP/err")"
ok "over odbc: busy while a libpq run holds the lock; -v says it waits"

"$SQLLOCK" --url "$ODBC" run -w 20s "$name" -- sh -c \
  '"$1" run -n "$2" -- true; echo $? >"$3"' sh "$SQLLOCK" "$name" "$TMP/inner" &
waiter=$!
wait_until 10 count_is 1 "$key" f
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"
bounded_wait 15 "$waiter"
((RC == 0)) || fail "odbc waiter exited $RC"
[[ "$(cat "$TMP/inner")" == 75 ]] || fail "a libpq run -n inside the odbc holder: $(cat "$TMP/inner")"
ok "over odbc: waits, takes the lock at release, and keeps a libpq run out"

for cmd in "status x" "list"; do
  eval "args=($cmd)"
  expect_fail 64 "$SQLLOCK" --url "$ODBC" "${args[@]}"
  [[ "$ERR" == *"needs a PostgreSQL URL"* && "$ERR" != *"$PW"* ]] || fail "$cmd: $ERR"
done
expect_fail 69 "$SQLLOCK" --url "${ODBC/$PW/wrong-password}" run x -- true
[[ "$ERR" != *wrong-password* ]] || fail "password in: $ERR"
ok "status and list refuse odbc: (64); a wrong ODBC password: 69, not shown"
