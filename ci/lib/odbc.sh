# SPDX-License-Identifier: MIT
# Sourced by ci/lib/pg.sh: the ODBC side of the throwaway test server.
#   odbc_register_drivers   registers psqlODBC and the SQLite ODBC driver under
#                           sqllock's own names (once; odbcinst -i -d)
#   odbc_load_emulation F   loads F (tests/mssql/emulation.sql: an EMULATION of
#                           sp_getapplock & co. on PostgreSQL) into the test db
#   odbc_export_urls        exports SQLLOCK_TEST_ODBC_* for the running cluster
# shellcheck shell=bash

ODBC_DEPS=(unixodbc unixodbc-dev odbcinst odbc-postgresql libsqliteodbc)
ODBC_PG_DRIVER=sqllock-psqlodbc
ODBC_SQLITE_DRIVER=sqllock-sqlite3

_odbc_lib() {
  local f
  f=$(dpkg -L "$1" 2>/dev/null | grep -m 1 "/$2\$" || true)
  [[ -n "$f" ]] || { echo "odbc: $2 not found in package $1" >&2; return 1; }
  echo "$f"
}

odbc_register_drivers() {
  local tmpl psql sqlite
  psql=$(_odbc_lib odbc-postgresql psqlodbcw.so)
  sqlite=$(_odbc_lib libsqliteodbc libsqlite3odbc.so)
  # Registered only once: installing again would only raise the usage count.
  if odbcinst -q -d -n "$ODBC_PG_DRIVER" >/dev/null 2>&1 &&
     odbcinst -q -d -n "$ODBC_SQLITE_DRIVER" >/dev/null 2>&1; then
    echo "odbc: drivers $ODBC_PG_DRIVER and $ODBC_SQLITE_DRIVER already registered"
    return 0
  fi
  tmpl=$(mktemp)
  # CommLog/Debug off: psqlODBC would otherwise log every test's traffic.
  printf '%s\n' "[$ODBC_PG_DRIVER]" \
    "Description=psqlODBC (Unicode), registered for sqllock's tests" \
    "Driver=$psql" "CommLog=0" "Debug=0" "" \
    "[$ODBC_SQLITE_DRIVER]" \
    "Description=SQLite 3 ODBC driver, registered for sqllock's tests" \
    "Driver=$sqlite" >"$tmpl"
  odbcinst -i -d -f "$tmpl" >/dev/null
  rm -f "$tmpl"
  echo "odbc: registered $ODBC_PG_DRIVER ($psql) and $ODBC_SQLITE_DRIVER ($sqlite)"
}

odbc_load_emulation() {
  psql -X -q -v ON_ERROR_STOP=1 -f "$1" \
    "host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test user=sqllock_test" >/dev/null
}

odbc_export_urls() {
  # The password is braced, so the masking of braced values is exercised.
  local base="Driver=$ODBC_PG_DRIVER;Servername=127.0.0.1;Port=$PGTEST_PORT;Database=sqllock_test;UID=sqllock_test;PWD={s3cret-Pa55}"
  export SQLLOCK_TEST_ODBC_PG_URL="odbc:$base"
  # The server answers as "PostgreSQL"; backend= makes the client speak
  # sp_getapplock, to the emulation odbc_load_emulation loaded.
  export SQLLOCK_TEST_ODBC_MSSQL_URL="odbc:backend=mssql-applock;$base"
  export SQLLOCK_TEST_ODBC_SQLITE_DRIVER=$ODBC_SQLITE_DRIVER
  # Leases on SQLite: a file database beside the cluster (removed with it);
  # Timeout is the driver's busy timeout for writers that meet a lock.
  export SQLLOCK_TEST_ODBC_SQLITE_URL="odbc:Driver=$ODBC_SQLITE_DRIVER;Database=$PGTEST_DIR/sqllock-lease.db;Timeout=30000"
}
