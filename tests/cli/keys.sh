#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that the command coordinates with tools that lock by number, and
# that its JSON survives the tools that read it:
# - list/status --json give every 64-bit key as a string, so jq and node
#   (whose numbers are doubles) get the exact key back, -8636945427938557973
#   included (as a bare number both read -8636945427938558000);
# - `run --key N` and `status --key N` use the int8 key N: busy (75) and
#   held (1) while psql holds pg_advisory_lock(N), as Sqitch does with
#   75474063, and psql's pg_try_advisory_lock(N) fails while run holds it;
# - `--key A/B` is the int4-pair space of pg_advisory_lock(A, B): excluded by
#   psql's pair lock, while the int8 key A<<32|B, a different server lock,
#   stays free;
# - malformed keys, and a key with a NAME or with --ttl, are usage errors (64).
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL
command -v jq >/dev/null || fail "jq is not installed (ci/lib/pg.sh installs it)"
command -v node >/dev/null || fail "node is not installed (ci/lib/pg.sh installs it)"

# psql_hold APP SQL: a psql session named APP that runs SQL and stays
# connected until psql_end APP.
psql_hold() {
  PGAPPNAME=$1 psql -X -q -At -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_URL" -c "$2" \
    -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
  wait_until 10 app_holds "$1"
}
app_holds() {
  [[ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '$1'")" != 0 ]]
}
psql_end() {
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
}
on_exit "psql_end $UNIQ-big; psql_end $UNIQ-sqitch; psql_end $UNIQ-pair"

# busy_and_held KEY APP: while psql session APP holds KEY, run -n --key KEY
# exits 75 and status --key KEY exits 1 and shows APP.
busy_and_held() {
  local rc=0
  "$SQLLOCK" run -n --key "$1" -- true 2>"$TMP/err" || rc=$?
  ((rc == 75)) || fail "run -n --key $1 while psql holds it: exit $rc ($(cat "$TMP/err"))"
  rc=0
  "$SQLLOCK" status --key "$1" >"$TMP/st" || rc=$?
  ((rc == 1)) || fail "status --key $1 while psql holds it: exit $rc"
  [[ "$(head -n1 "$TMP/st")" == "lock key $1 is held" ]] || fail "status: $(cat "$TMP/st")"
  grep -q "application_name=$2 " "$TMP/st" || fail "status does not show psql: $(cat "$TMP/st")"
}

# ---- JSON keys are strings -------------------------------------------------
big=-8636945427938557973
psql_hold "$UNIQ-big" "SELECT pg_advisory_lock($big)"
"$SQLLOCK" list --json >"$TMP/json"
jq_key=$(jq -r --arg app "$UNIQ-big" 'select(.application_name == $app) | .key' "$TMP/json")
[[ "$jq_key" == "$big" ]] || fail "jq read key $jq_key, not $big: $(grep -- "$UNIQ-big" "$TMP/json")"
node_key=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  for (const o of lines.map(JSON.parse)) if (o.application_name === process.argv[2]) console.log(o.key);
' "$TMP/json" "$UNIQ-big")
[[ "$node_key" == "$big" ]] || fail "node read key $node_key, not $big"
node_ok=$(node -e 'console.log(BigInt(process.argv[1]) === -8636945427938557973n)' -- "$node_key")
[[ "$node_ok" == true ]] || fail "node: BigInt of the key is not exact"
"$SQLLOCK" status --json --key "$big" >"$TMP/st" || true
[[ "$(jq -r .key "$TMP/st")" == "$big" ]] || fail "status --json key: $(cat "$TMP/st")"
ok "list/status --json: jq and node read key $big exactly"
psql_end "$UNIQ-big"

# ---- --key N: the int8 space, as Sqitch locks -------------------------------
sqitch=75474063
psql_hold "$UNIQ-sqitch" "SELECT pg_advisory_lock($sqitch)"
busy_and_held "$sqitch" "$UNIQ-sqitch"
psql_end "$UNIQ-sqitch"
wait_until 10 count_is 0 "$sqitch" t
gate_close "$TMP/hold"
"$SQLLOCK" run --key "$sqitch" -- flock -w 30 "$TMP/hold" true &
holder=$!
wait_until 10 count_is 1 "$sqitch" t
[[ "$(sql "SELECT pg_try_advisory_lock($sqitch)")" == f ]] || fail "psql took $sqitch while run held it"
gate_open
bounded_wait 15 "$holder"
((RC == 0)) || fail "run --key $sqitch exited $RC"
ok "--key $sqitch: busy and held while psql holds pg_advisory_lock($sqitch); psql excluded while run holds it"

# ---- --key A/B: the int4-pair space -----------------------------------------
a=$(($$ % 100000 + 1)) b=-$((RANDOM + 1))
int8=$(((a << 32) | (b & 0xffffffff)))
psql_hold "$UNIQ-pair" "SELECT pg_advisory_lock($a, $b)"
busy_and_held "$a/$b" "$UNIQ-pair"
rc=0
"$SQLLOCK" status --key "$int8" >"$TMP/st" || rc=$?
((rc == 0)) || fail "status --key $int8 (the int8 twin of $a/$b): exit $rc: $(cat "$TMP/st")"
"$SQLLOCK" run -n --key "$int8" -- true || fail "run -n --key $int8 while psql holds the pair $a/$b"
"$SQLLOCK" status --json --key "$a/$b" >"$TMP/st" || true
jq -e --argjson a "$a" --argjson b "$b" '.key == null and .key_pair == [$a, $b]' "$TMP/st" >/dev/null ||
  fail "status --json --key $a/$b: $(cat "$TMP/st")"
psql_end "$UNIQ-pair"
wait_until 10 eval '! app_holds $UNIQ-pair'
"$SQLLOCK" run -n --key "$a/$b" -- true || fail "run -n --key $a/$b once psql let go"
ok "--key $a/$b: excluded by psql's pg_advisory_lock($a, $b); the int8 key $int8 is another lock"

# ---- bad keys ------------------------------------------------------------------
for k in abc 1/ /1 1/2/3 4294967296/1 1/2147483648 9223372036854775808 '' ' 1' 1x; do
  expect_fail 64 "$SQLLOCK" run -n --key "$k" -- true
  [[ "$ERR" == *"--key"* ]] || fail "run --key '$k': $ERR"
  expect_fail 64 "$SQLLOCK" status --key "$k"
done
expect_fail 64 "$SQLLOCK" run -n --key 1 "$UNIQ" -- true
expect_fail 64 "$SQLLOCK" status --key 1 "$UNIQ"
expect_fail 64 "$SQLLOCK" run -n --key 1 --ttl 10s -- true
ok "malformed keys, a key with a NAME, a key with --ttl: exit 64, one line"
