#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves `status` and `list` over an odbc: URL to SQL Server (here the TDS
# EMULATION of SQL Server, tests/mssql/tds_emulator.py, through FreeTDS):
# a `run` holding a name shows as held by its session with host, program
# and login time, a second `run` waiting for it as waiting, both in list;
# the name is matched on the first 32 characters of its resource, all
# sys.dm_tran_locks shows, and the heading says so; after release status
# says free (0). No output shows the password.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_MSSQL_URL
U="$SQLLOCK_TEST_MSSQL_URL;Database=sqllock_cli"
PW=s3cret-Pa55
name="$UNIQ-and-more-than-32-characters"
kept=${name:0:32}

status_is() { # CODE: status NAME exits CODE; its output is in $TMP/out
  local rc=0
  "$SQLLOCK" --url "$U" status "$name" >"$TMP/out" 2>&1 || rc=$?
  ((rc == $1))
}
waiting() { grep -q 'state=waiting' "$TMP/out"; }

gate_close "$TMP/hold"
"$SQLLOCK" --url "$U" run "$name" -- flock -w 30 "$TMP/hold" true &
holder=$!
wait_until 10 status_is 1
grep -qx "lock \"$name\" (matched on the first 32 characters of its SQL Server resource, all sys.dm_tran_locks shows: \"$kept\") is held" \
  "$TMP/out" || fail "status heading: $(cat "$TMP/out")"
grep -Eq '^state=held mode=exclusive session=[0-9]+ host=.+ program=sqllock\[[0-9]+\]@.+ session_start=[0-9T:-]+$' \
  "$TMP/out" || fail "holder line: $(cat "$TMP/out")"
ok "status: held by a session, with host, program and login time (exit 1)"

"$SQLLOCK" --url "$U" run -w 20s "$name" -- true &
waiter=$!
wait_until 10 eval 'status_is 1 && waiting'
"$SQLLOCK" --url "$U" list >"$TMP/list"
[[ $(grep -c "^kind=applock resource=$kept state=held mode=exclusive" "$TMP/list") == 1 &&
   $(grep -c "^kind=applock resource=$kept state=waiting mode=exclusive" "$TMP/list") == 1 ]] ||
  fail "list: $(cat "$TMP/list")"
"$SQLLOCK" --url "$U" status --json "$name" >"$TMP/json" || true
[[ $(jq -r 'select(.state == "waiting") | .kind' "$TMP/json") == applock ]] ||
  fail "status --json: $(cat "$TMP/json")"
ok "a waiter shows as waiting, in status, status --json and list"

gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "holder exited $RC"
bounded_wait 15 "$waiter"
((RC == 0)) || fail "waiter exited $RC"
wait_until 10 status_is 0
grep -q 'is free$' "$TMP/out" || fail "after release: $(cat "$TMP/out")"
! grep -q "$PW" "$TMP/out" "$TMP/list" "$TMP/json" || fail "the password was shown"
ok "free after release (exit 0); no password in any output"
