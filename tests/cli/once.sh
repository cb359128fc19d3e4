#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves `sqllock once`: of 8 started at once, PROGRAM runs exactly once and
# every caller exits 0; a later call skips it; a failing PROGRAM is retried
# by the next call (its status is passed on); --forget re-arms it; a run
# whose done marker the database refuses exits 73 (EX_CANTCREAT). Also
# `sqllock init` (idempotent) and `run --ttl` (a lease: busy for others
# while PROGRAM runs; -s with --ttl is a usage error).
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

"$SQLLOCK" init || fail "init"
"$SQLLOCK" init || fail "init, again"
ok "init installs the tables, and may run again"

N=8
name="$UNIQ-migrate"
ran=$TMP/ran
: >"$ran"
gate_close "$TMP/start"
pids=()
for i in $(seq 1 $N); do
  (flock -s -w 20 "$TMP/start" true &&
    exec "$SQLLOCK" once "$name" -- sh -c 'echo "$1" >>"$2"; sleep 0.3' sh "$i" "$ran") &
  pids+=($!)
done
gate_open
for pid in "${pids[@]}"; do
  bounded_wait 30 "$pid"
  ((RC == 0)) || fail "a caller exited $RC"
done
[[ "$(wc -l <"$ran")" -eq 1 ]] || fail "PROGRAM ran $(wc -l <"$ran") times"
"$SQLLOCK" once "$name" -- sh -c 'echo late >>"$1"' sh "$ran" || fail "later call"
[[ "$(wc -l <"$ran")" -eq 1 ]] || fail "a later call ran PROGRAM again"
ok "$N at once: PROGRAM ran once, all exit 0; a later call skips it"

name="$UNIQ-flaky"
rc=0
"$SQLLOCK" once "$name" -- sh -c 'exit 3' || rc=$?
((rc == 3)) || fail "failing PROGRAM: exit $rc, not 3"
"$SQLLOCK" once "$name" -- sh -c 'echo second >>"$1"' sh "$ran" || fail "retry"
[[ "$(tail -n 1 "$ran")" == second ]] || fail "the failed run was not retried"
"$SQLLOCK" once --forget "$name" || fail "--forget"
"$SQLLOCK" once "$name" -- sh -c 'echo third >>"$1"' sh "$ran" || fail "after --forget"
[[ "$(tail -n 1 "$ran")" == third ]] || fail "--forget did not re-arm it"
ok "a failing PROGRAM's status is passed on and the next call runs it; --forget re-arms"

# PROGRAM exits 0 but the database refuses the done marker (a trigger on
# sqllock_once for this name alone): exit 73 with one line saying so, and
# the next call runs PROGRAM again.
name="$UNIQ-refused"
sql "CREATE FUNCTION \"$name\"() RETURNS trigger LANGUAGE plpgsql AS
       \$\$BEGIN RAISE EXCEPTION 'marker refused by a test trigger'; END\$\$;
     CREATE TRIGGER \"$name\" BEFORE INSERT ON sqllock_once FOR EACH ROW
       WHEN (NEW.name = convert_to('$name', 'UTF8')) EXECUTE FUNCTION \"$name\"()"
drop_refusal() { sql "SET client_min_messages = warning; DROP TRIGGER IF EXISTS \"$1\" ON sqllock_once; DROP FUNCTION IF EXISTS \"$1\"()"; }
on_exit drop_refusal "$name"
expect_fail 73 "$SQLLOCK" once "$name" -- sh -c 'echo refused >>"$1"' sh "$ran"
[[ "$ERR" == *"not recorded"* && "$ERR" == *"marker refused by a test trigger"* ]] || fail "$ERR"
[[ "$(tail -n 1 "$ran")" == refused ]] || fail "PROGRAM did not run"
drop_refusal "$name"
"$SQLLOCK" once "$name" -- sh -c 'echo again >>"$1"' sh "$ran" || fail "after the refusal"
[[ "$(tail -n 1 "$ran")" == again ]] || fail "a run whose marker was refused was not run again"
ok "PROGRAM ran but its marker was refused: exit 73, one line; the next call runs it again"

expect_fail 64 "$SQLLOCK" once "$UNIQ-x" true
[[ "$ERR" == *"expected -- PROGRAM"* ]] || fail "$ERR"
expect_fail 64 "$SQLLOCK" once --forget "$UNIQ-x" extra
ok "once: usage errors exit 64"

# run --ttl: a lease, busy for others while PROGRAM runs.
name="$UNIQ-lease"
gate_close "$TMP/hold"
("$SQLLOCK" run --ttl 60s "$name" -- flock -w 20 "$TMP/hold" true) &
holder=$!
held() { [[ "$(sql "SELECT count(*) FROM sqllock_lease WHERE name = convert_to('$name', 'UTF8')
                     AND NOT released AND expires_at > clock_timestamp()")" == 1 ]]; }
wait_until 15 held
rc=0
"$SQLLOCK" run -n --ttl 60s "$name" -- true || rc=$?
((rc == 75)) || fail "run -n --ttl against a held lease: exit $rc, not 75"
gate_open
bounded_wait 20 "$holder"
((RC == 0)) || fail "the lease holder exited $RC"
"$SQLLOCK" run -n --ttl 60s "$name" -- true || fail "the lease was not released"
expect_fail 64 "$SQLLOCK" run -s --ttl 10s "$name" -- true
[[ "$ERR" == *"shared"* ]] || fail "-s --ttl: $ERR"
ok "run --ttl holds a lease; -s --ttl is a usage error"
