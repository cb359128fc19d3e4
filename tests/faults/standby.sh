#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that sqllock refuses a hot standby (pg_basebackup -R of this test's
# server), where advisory locks are invisible to the primary that everyone
# else locks on: sqllock_connect and sqllock_attach_pg fail with ESTATE
# naming recovery/standby, `sqllock run` fails with one clear line, with or
# without a lease (--ttl), and over ODBC (with the same message as over
# libpq), and never runs its program; and that the primary
# keeps working meanwhile.
source "$(dirname "$0")/lib.sh"
BIN=$1
CLI=$BIN/../../src/cli/sqllock
fault_cluster

on_exit pg_standby_stop
pg_standby_start
SDIR=$PGSB_SOCKDIR SPORT=$PGSB_PORT STANDBY_URL=$PGSB_URL
in_recovery() { [[ $(psql -X -At -d "$STANDBY_URL" -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == t ]]; }
ok "hot standby of the test server in recovery on $SDIR"

"$BIN/pool_client" standby "$STANDBY_URL" || fail "the library did not refuse the standby"
ok "sqllock_connect and sqllock_attach_pg on the standby: ESTATE naming recovery"

# cli_refused WHAT ARGS...: `sqllock run` on the standby must fail with one
# line naming the cause, and must not run its program.
cli_refused() {
  local what=$1 rc=0
  shift
  "$CLI" --url "$STANDBY_URL" run "$@" -- touch "$TMP/ran" 2>"$TMP/cli.err" || rc=$?
  ((rc != 0)) || fail "$what on the standby succeeded"
  [[ ! -e "$TMP/ran" ]] || fail "$what ran its program on the standby"
  { [[ $(wc -l <"$TMP/cli.err") == 1 ]] && grep -Eq 'recovery|standby' "$TMP/cli.err"; } ||
    fail "$what did not say in one line that the server is a standby: $(cat "$TMP/cli.err")"
  ok "$what on the standby: exit $rc, program not run: $(cat "$TMP/cli.err")"
  REFUSAL=$(cat "$TMP/cli.err")
}
cli_refused "sqllock run" standby-lock
libpq_refusal=$REFUSAL
[[ "$libpq_refusal" == "sqllock: connect: the server is in recovery"* ]] ||
  fail "the libpq refusal does not say which call refused: $libpq_refusal"
cli_refused "sqllock run --ttl" --ttl 30s standby-lease
if [[ -n "${SQLLOCK_TEST_ODBC_PG_URL:-}" ]]; then
  # The same through psqlODBC, which reaches the standby's socket directory.
  STANDBY_URL="odbc:Driver=$ODBC_PG_DRIVER;Servername=$SDIR;Port=$SPORT;Database=sqllock_test;UID=sqllock_test" \
    cli_refused "sqllock run over ODBC" standby-lock
  [[ "$REFUSAL" == "$libpq_refusal" ]] ||
    fail "the refusal differs by transport: libpq '$libpq_refusal', ODBC '$REFUSAL'"
  ok "the refusal reads the same over libpq and ODBC"
fi

"$CLI" --url "$SQLLOCK_TEST_URL" run standby-lock -- true || fail "sqllock run on the primary failed"
"$CLI" --url "$SQLLOCK_TEST_URL" run --ttl 30s standby-lease -- true ||
  fail "sqllock run --ttl on the primary failed"
in_recovery || fail "the standby left recovery during the test"
ok "the primary grants the same lock and lease while the standby runs"
