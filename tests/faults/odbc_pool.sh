#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that with unixODBC driver-manager pooling on (odbcinst.ini
# [ODBC] Pooling = Yes, psqlODBC with CPTimeout = 60) sqllock_client_free
# never leaves a session lock on the server, whether or not the physical
# connection stays in the pool, and that a later client in the same
# process, possibly handed that connection, neither holds nor believes it
# holds the lock: for the pg-advisory and the mssql-applock backends.
# Reports whether the pool kept sqllock's connection (i.e. whether unixODBC
# honours the SQL_CP_OFF sqllock sets on its own environment) and whether
# the application's own pooling survived it.
source "$(dirname "$0")/lib.sh"
BIN=$1
fault_cluster

# A driver configuration of this test's own: the system's files stay as
# they are. Same driver name as ci/lib/odbc.sh registers, so the suite's
# URLs resolve here too.
export ODBCSYSINI=$TMP/odbc
mkdir "$ODBCSYSINI"
cat >"$ODBCSYSINI/odbcinst.ini" <<EOF
[ODBC]
Pooling = Yes

[$ODBC_PG_DRIVER]
Driver = $(_odbc_lib odbc-postgresql psqlodbcw.so)
CPTimeout = 60
CommLog = 0
Debug = 0
EOF
: >"$ODBCSYSINI/odbc.ini"
# No user DSNs from root's home either.
export ODBCINI=$ODBCSYSINI/odbc.ini

no_advisory_locks() { [[ $(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0 ]]; }

for backend in pg:SQLLOCK_TEST_ODBC_PG_URL mssql:SQLLOCK_TEST_ODBC_MSSQL_URL; do
  var=${backend#*:}
  backend=${backend%%:*}
  "$BIN/pool_odbc" "${!var}" "$SQLLOCK_TEST_ADMIN_URL" "odbc-pool-$backend" >"$TMP/$backend.out" ||
    fail "$backend: pooling made sqllock unsafe (see above)"
  cat "$TMP/$backend.out"
  # Pooled connections end with the process; their backends notice soon.
  wait_until 10 no_advisory_locks
  for k in pooled-sqllock pooled-app-after; do
    report "$backend-$k" "$(sed -n "s/^$k: //p" "$TMP/$backend.out")"
  done
  ok "$backend over ODBC with driver-manager pooling: no lock survives sqllock_client_free"
done
