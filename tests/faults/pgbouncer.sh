#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that behind a transaction-mode pooler (Debian's pgbouncer,
# pool_mode = transaction, one server connection) sqllock refuses session
# locks, whose server connection the next client of the pool would inherit,
# with an ESTATE naming the pooler, and leaves nothing locked on the server;
# that transaction-scoped locks work through it and exclude other clients
# until COMMIT; and that `sqllock run` through it fails with one clear line
# without running its program.
source "$(dirname "$0")/lib.sh"
BIN=$1
CLI=$BIN/../../src/cli/sqllock
command -v pgbouncer >/dev/null || {
  [[ -n "${SQLLOCK_TEST_REQUIRE_SERVER:-}" ]] && fail "pgbouncer is not installed"
  echo "SKIP: $TEST: pgbouncer is not installed"; exit 77; }
fault_cluster

# Unix socket only, in a directory of its own: no TCP port to race for, and
# the port number only names the socket file.
BDIR=$TMP/bouncer
BPORT=6432
mkdir "$BDIR"
echo '"sqllock_test" ""' >"$BDIR/users.txt"
cat >"$BDIR/pgbouncer.ini" <<EOF
[databases]
sqllock_test = host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test
[pgbouncer]
listen_addr =
listen_port = $BPORT
unix_socket_dir = $BDIR
auth_type = trust
auth_file = $BDIR/users.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
EOF
chown -R postgres:postgres "$BDIR"
# -u: pgbouncer drops to postgres itself, so $! is pgbouncer's own PID.
pgbouncer -u postgres "$BDIR/pgbouncer.ini" >"$TMP/pgbouncer.log" 2>&1 &
BPID=$!
on_exit "kill -TERM $BPID 2>/dev/null; bounded_wait 10 $BPID"
POOL_URL="host=$BDIR port=$BPORT dbname=sqllock_test user=sqllock_test"
through_pooler() { psql -X -q -At -d "$POOL_URL" -c 'SELECT 1' >/dev/null 2>&1; }
wait_until 20 through_pooler
ok "pgbouncer (pid $BPID) in transaction mode, pool size 1, in front of the server"

# Advisory locks held on the server by anyone: the pooler's one server
# connection outlives its clients, so a lock left on it would show here.
advisory_locks() { sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"; }

"$BIN/pool_client" pooled-session "$POOL_URL" pool-session-lock ||
  fail "session locks through the pooler were not refused as specified"
[[ $(advisory_locks) == 0 ]] || fail "refused session acquires left advisory locks on the server"
ok "session acquires through the pooler: ESTATE naming the pooler, nothing left locked"

# The second client connects directly: with one server connection its own
# transaction through the pooler could not start while the first is open.
"$BIN/pool_client" pooled-xact "$POOL_URL" "$SQLLOCK_TEST_URL" pool-xact-lock ||
  fail "transaction-scoped locks through the pooler misbehaved"
[[ $(advisory_locks) == 0 ]] || fail "advisory locks remain after COMMIT"
ok "transaction-scoped lock through the pooler: held until COMMIT, BUSY for others"

rc=0
"$CLI" --url "$POOL_URL" run pool-cli-lock -- touch "$TMP/ran" 2>"$TMP/cli.err" || rc=$?
((rc == 69)) || fail "sqllock run through the pooler exited $rc, expected 69: $(cat "$TMP/cli.err")"
[[ ! -e "$TMP/ran" ]] || fail "sqllock run ran its program without the lock"
{ [[ $(wc -l <"$TMP/cli.err") == 1 ]] && grep -q pooler "$TMP/cli.err"; } ||
  fail "sqllock run did not say in one line that a pooler is in the way: $(cat "$TMP/cli.err")"
[[ $(advisory_locks) == 0 ]] || fail "sqllock run left advisory locks on the server"
ok "sqllock run through the pooler: exit 69, program not run: $(cat "$TMP/cli.err")"
