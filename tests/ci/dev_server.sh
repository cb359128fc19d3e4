#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves the README's way to a test server: `ci/dev-server start` leaves a
# cluster running after it exits whose env file, sourced, reaches it as the
# tests would (SQLLOCK_TEST_URL over the socket, SQLLOCK_TEST_TCP_URL with
# its password); a second start reuses it; `env` prints that file; `stop`
# stops it and deletes its directory, after which `env` fails. The TDS
# emulator is started beside it (SQLLOCK_TEST_MSSQL_URL) and stopped with it. Uses an env
# file of its own (SQLLOCK_DEV_ENV), never the developer's cluster.
# shellcheck disable=SC1090  # the env files are written at run time
set -euo pipefail
repo=${1:?usage: $0 REPO}
((EUID == 0)) || { echo "SKIP: needs root (the postgres user)"; exit 77; }
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || { echo "SKIP: PostgreSQL 15 is not installed"; exit 77; }
tmp=$(mktemp -d)
export SQLLOCK_DEV_ENV=$tmp/dev.env
dev() { bash "$repo/ci/dev-server" "$@"; }
# However the test ends, its cluster goes.
trap 'dev stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: dev_server: $*" >&2; exit 1; }
unset PGTEST_DIR SQLLOCK_TEST_URL SQLLOCK_TEST_TCP_URL

dev start >"$tmp/out" 2>&1 || fail "start: $(cat "$tmp/out")"
[[ -f "$SQLLOCK_DEV_ENV" ]] || fail "start wrote no $SQLLOCK_DEV_ENV"
dir=$(source "$SQLLOCK_DEV_ENV" && echo "$PGTEST_DIR")
[[ -d "$dir" ]] || fail "no cluster directory $dir"
(
  source "$SQLLOCK_DEV_ENV"
  [[ "$SQLLOCK_TEST_REQUIRE_SERVER" == 1 ]] || fail "SQLLOCK_TEST_REQUIRE_SERVER is not set"
  [[ "$(psql -X -At -d "$SQLLOCK_TEST_URL" -c 'SELECT 1')" == 1 ]] || fail "socket URL"
  [[ "$(psql -X -At -d "$SQLLOCK_TEST_TCP_URL" -c 'SELECT 2')" == 2 ]] || fail "TCP URL"
  [[ "$SQLLOCK_TEST_MSSQL_URL" == "odbc:Driver=FreeTDS;"*"Port=$MSSQL_EMU_PORT;"* &&
     -n "$(ss -Hltn "sport = :$MSSQL_EMU_PORT")" ]] || fail "the TDS emulator does not listen"
)
port=$(source "$SQLLOCK_DEV_ENV" && echo "$MSSQL_EMU_PORT")
dev start | grep -q "already running" || fail "a second start did not reuse the cluster"
[[ "$(source "$SQLLOCK_DEV_ENV" && echo "$PGTEST_DIR")" == "$dir" ]] || fail "a second cluster"
dev env | cmp -s - "$SQLLOCK_DEV_ENV" || fail "env does not print the file"
dev stop >/dev/null
[[ ! -e "$SQLLOCK_DEV_ENV" && ! -d "$dir" ]] || fail "stop left $SQLLOCK_DEV_ENV or $dir"
[[ -z "$(ss -Hltn "sport = :$port")" ]] || fail "stop left the TDS emulator listening on $port"
if dev env >/dev/null 2>&1; then fail "env succeeded with no server"; fi
echo "PASS: dev_server"
