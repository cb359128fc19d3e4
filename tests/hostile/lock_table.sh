#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile deployments: the lock table full (tests/hostile/lock_table.c), on
# a cluster of this test's own whose lock table holds only a few hundred
# locks (max_locks_per_transaction 10, max_connections 20), over libpq and
# over psqlODBC. Usage: lock_table.sh TEST_LOCK_TABLE_BINARY. Reports how
# many advisory locks fitted (SQLLOCK_FAULT_FIGURES).
source "$(dirname "$0")/../faults/lib.sh"
BIN=${1:?usage: $0 PATH/TO/test_lock_table}
TEST=lock_table_full
PGTEST_EXTRA_CONF=$'max_connections = 20\nmax_locks_per_transaction = 10' fault_cluster
vars=(SQLLOCK_TEST_URL)
[[ -n "${SQLLOCK_TEST_ODBC_PG_URL:-}" ]] && vars+=(SQLLOCK_TEST_ODBC_PG_URL)
for var in "${vars[@]}"; do
  # Each transport in a fresh database, so that each first lease installs.
  sql "SET client_min_messages = warning; DROP TABLE IF EXISTS sqllock_lease, sqllock_once"
  out=$(SQLLOCK_SUITE_URL_VAR=$var "$BIN" lock_table_full 2>&1) || fail "$var: $out"
  echo "$out"
  report "locks_fit_$var" "$(sed -n 's/^locks that fit: //p' <<<"$out")"
done
