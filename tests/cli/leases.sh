#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that `status` and `list` show leases (rows of sqllock_lease), not
# only advisory locks: while `run --ttl` holds a lease, `status NAME` exits 1
# (held) and shows the lease's token, holder (host and pid), since and
# expires, as text and as JSON (token as a string); `list` shows it too.
# Where the lease table does not exist, leases are simply none (exit 0, no
# message); a role without SELECT on it is told so in one line, and the
# advisory part is still shown, but the lock is not called free (exit 77,
# not permitted).
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL
command -v jq >/dev/null || fail "jq is not installed (ci/lib/pg.sh installs it)"

name="$UNIQ lease"
key=$(key_of "$name")
"$SQLLOCK" init
lease_rows() {
  sql "SELECT count(*) FROM sqllock_lease WHERE name = convert_to('$name', 'UTF8')
       AND expires_at > clock_timestamp()"
}
gate_close "$TMP/hold"
"$SQLLOCK" run --ttl 60s "$name" -- flock -w 30 "$TMP/hold" true &
holder=$!
wait_until 10 eval '[[ $(lease_rows) == 1 ]]'
token=$(sql "SELECT token FROM sqllock_lease WHERE name = convert_to('$name', 'UTF8')")

# ---- status and list show the lease ----------------------------------------
rc=0
"$SQLLOCK" status "$name" >"$TMP/st" 2>"$TMP/err" || rc=$?
cat "$TMP/st"
((rc == 1)) || fail "status of a held lease: exit $rc, not 1: $(cat "$TMP/st" "$TMP/err")"
[[ ! -s "$TMP/err" ]] || fail "stderr: $(cat "$TMP/err")"
mapfile -t st <"$TMP/st"
[[ "${st[0]}" == "lock \"$name\" (key $key) is held" ]] || fail "line 1: ${st[0]}"
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
[[ "${st[1]}" =~ ^kind=lease\ state=held\ token=$token\ owner_host=[^\ ]+\ owner_pid=$holder\ owner_id=[^\ ]+\ since=$iso\ expires=$iso$ ]] ||
  fail "lease line: ${st[1]}"
"$SQLLOCK" status --json "$name" >"$TMP/json" || true
jq -e --arg t "$token" --arg n "$name" --argjson p "$holder" \
  'select(.kind == "lease") | .token == $t and .name == $n and .owner_pid == $p
   and .state == "held" and (.since | test("Z$")) and (.expires | test("Z$"))
   and .released == false' "$TMP/json" >/dev/null || fail "status --json: $(cat "$TMP/json")"
ok "status of a held lease: exit 1, token $token, holder pid $holder, since, expires (text and JSON)"

"$SQLLOCK" list >"$TMP/list"
grep -Eq "^kind=lease name=\"$name\" state=held token=$token owner_host=" "$TMP/list" ||
  fail "list lacks the lease: $(cat "$TMP/list")"
"$SQLLOCK" list --json >"$TMP/json"
jq -se --arg n "$name" --arg t "$token" '[.[] | select(.kind == "lease" and .name == $n)]
    | length == 1 and .[0].token == $t' "$TMP/json" >/dev/null || fail "list --json: $(cat "$TMP/json")"
ok "list shows the lease, as text and JSON"

# ---- no lease table: no leases, nothing said ----------------------------------
nowhere="$SQLLOCK_TEST_URL options=-csearch_path=nosuch_$$"
rc=0
"$SQLLOCK" --url "$nowhere" status "$UNIQ-other" >"$TMP/st" 2>"$TMP/err" || rc=$?
((rc == 0)) || fail "status without a lease table: exit $rc: $(cat "$TMP/st" "$TMP/err")"
[[ ! -s "$TMP/err" ]] || fail "status without a lease table said: $(cat "$TMP/err")"
ok "no lease table (search_path elsewhere): free, exit 0, nothing on stderr"

# ---- a role that may not read the lease table -----------------------------------
role="nosel_$$"
sql "CREATE ROLE $role LOGIN" >/dev/null
on_exit "sql 'DROP ROLE IF EXISTS $role' >/dev/null"
denied="$SQLLOCK_TEST_URL user=$role"
rc=0
"$SQLLOCK" --url "$denied" status "$name" >"$TMP/st" 2>"$TMP/err" || rc=$?
((rc == 77)) || fail "status by a role without SELECT: exit $rc, not 77: $(cat "$TMP/st" "$TMP/err")"
[[ "$(wc -l <"$TMP/err")" == 1 ]] && grep -q "^sqllock: leases not shown: .*sqllock_lease" "$TMP/err" ||
  fail "stderr: $(cat "$TMP/err")"
grep -q "leases could not be read" "$TMP/st" || fail "stdout: $(cat "$TMP/st")"
# The advisory part still works: hold the name's advisory lock too.
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "the lease holder exited $RC"
hold_gated "$name" "$key"
rc=0
"$SQLLOCK" --url "$denied" status "$name" >"$TMP/st" 2>"$TMP/err" || rc=$?
((rc == 1)) || fail "status by a role without SELECT, advisory lock held: exit $rc: $(cat "$TMP/st" "$TMP/err")"
grep -q "^state=held mode=exclusive" "$TMP/st" || fail "advisory holder not shown: $(cat "$TMP/st")"
rc=0
"$SQLLOCK" --url "$denied" list >"$TMP/list" 2>"$TMP/err" || rc=$?
((rc == 0)) || fail "list by a role without SELECT: exit $rc"
grep -q "^key=$key state=held" "$TMP/list" || fail "list lacks the advisory lock: $(cat "$TMP/list")"
grep -q "^sqllock: leases not shown: " "$TMP/err" || fail "list did not say leases are not shown"
gate_open
bounded_wait 15 "$HOLDER"
ok "a role without SELECT on sqllock_lease: told in one line, advisory part shown"
