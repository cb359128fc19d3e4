# SPDX-License-Identifier: MIT
# Sourceable helpers for CI scripts: install the build/test dependencies and run
# a throwaway PostgreSQL 15 cluster for sqllock's tests.
#
#   source ci/lib/pg.sh
#   pg_install_deps   # apt-get update; apt-get install unless all already installed
#   pg_start          # exports PGTEST_* and SQLLOCK_TEST_*; sets the EXIT trap
#                     # (PGTEST_EXTRA_CONF: postgresql.conf lines appended to ours,
#                     #  PGTEST_EXTRA_HBA: pg_hba.conf lines appended to ours)
#   ...               # (the EXIT trap calls pg_stop; it replaces any earlier EXIT trap)
#   pg_standby_start  # a streaming standby of it (ci/lib/pg_standby.sh)
#
# Must run as root (apt, and runuser to the "postgres" user: the server refuses
# to run as root).
# Sets no shell options: a shell that sources this keeps its own. The
# functions expect their caller's `set -euo pipefail` (ci/test, ci/bench,
# ci/dev-server and tests/faults/lib.sh set it) to stop at the first failure.
# shellcheck shell=bash

PG_BINDIR=/usr/lib/postgresql/15/bin
source "$(dirname "${BASH_SOURCE[0]}")/odbc.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pg_standby.sh" # pg_standby_*: a standby, failover
PG_DEPS=(postgresql-15 postgresql-client-15 libpq-dev build-essential cmake clang
         libclang-rt-14-dev pkg-config iproute2 procps util-linux jq nodejs groff-base man-db faketime
         nftables pgbouncer valgrind lintian clang-format-14
         libuv1-dev libevent-dev # examples/loop_libuv.c, loop_libevent.c
         "${ODBC_DEPS[@]}")

pg_install_deps() {
  local pkg missing=()
  for pkg in "${PG_DEPS[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] \
      || missing+=("$pkg")
  done
  apt-get update
  if ((${#missing[@]} == 0)); then
    echo "pg_install_deps: all packages already installed; skipping apt-get install"
  else
    echo "pg_install_deps: missing: ${missing[*]}; installing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PG_DEPS[@]}"
  fi
  odbc_register_drivers
}

# cd first: the postgres user may not be allowed into the caller's cwd.
_pg_as_postgres() { (cd "$PGTEST_DIR" && runuser -u postgres -- "$@"); }

_pg_free_port() {
  local port _
  for _ in $(seq 1 50); do
    port=$(shuf -i 20000-45000 -n 1)
    if [[ -z "$(ss -Hltn "sport = :$port")" ]]; then echo "$port"; return 0; fi
  done
  echo "pg_start: no free TCP port found in 20000-45000" >&2
  return 1
}

# Rewritten on each start attempt because the port may change.
_pg_write_conf() {
  cat >"$PGTEST_DATA/sqllock_test.conf" <<EOF
port = $PGTEST_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGTEST_SOCKDIR'
password_encryption = scram-sha-256
max_connections = 200
max_locks_per_transaction = 256
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
log_min_messages = warning
logging_collector = off
EOF
  # Extra settings of the caller's own (later lines win), e.g. ci/bench's.
  if [[ -n "${PGTEST_EXTRA_CONF:-}" ]]; then
    printf '%s\n' "$PGTEST_EXTRA_CONF" >>"$PGTEST_DATA/sqllock_test.conf"
  fi
  chown postgres:postgres "$PGTEST_DATA/sqllock_test.conf"
}

pg_start() {
  local attempt pgctl="$PG_BINDIR/pg_ctl" runuser
  runuser=$(command -v runuser)
  # Under /tmp (not $TMPDIR): postgres must be able to traverse every parent,
  # and the socket path must stay under the ~107-byte sun_path limit.
  PGTEST_DIR=$(mktemp -d /tmp/sqllock-pg.XXXXXX)
  PGTEST_DATA=$PGTEST_DIR/data
  PGTEST_SOCKDIR=$PGTEST_DIR/sock
  PGTEST_LOG=$PGTEST_DIR/server.log
  PGTEST_PGCTL=$pgctl
  export PGTEST_DIR PGTEST_DATA PGTEST_SOCKDIR PGTEST_LOG PGTEST_PGCTL
  trap pg_stop EXIT  # armed before anything can fail, so a half-started cluster is cleaned up

  mkdir "$PGTEST_SOCKDIR"
  chown postgres:postgres "$PGTEST_DIR" "$PGTEST_SOCKDIR"
  # 755 so that non-root test users can reach the socket too.
  chmod 755 "$PGTEST_DIR" "$PGTEST_SOCKDIR"

  _pg_as_postgres "$PG_BINDIR/initdb" -D "$PGTEST_DATA" -U postgres -E UTF8 --locale=C \
    --auth=trust --no-sync >/dev/null
  cat >"$PGTEST_DATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
local   replication all                 trust
EOF
  # Extra rules of the caller's own (PGTEST_EXTRA_HBA), e.g. for a test
  # network namespace's addresses.
  if [[ -n "${PGTEST_EXTRA_HBA:-}" ]]; then
    printf '%s\n' "$PGTEST_EXTRA_HBA" >>"$PGTEST_DATA/pg_hba.conf"
  fi
  chown postgres:postgres "$PGTEST_DATA/pg_hba.conf"
  echo "include 'sqllock_test.conf'" >>"$PGTEST_DATA/postgresql.conf"

  # Checking the port with ss is racy (another job may grab it before the
  # postmaster binds), so a bind failure is retried with a new port.
  for attempt in 1 2 3 4 5; do
    PGTEST_PORT=$(_pg_free_port)
    export PGTEST_PORT
    _pg_write_conf
    rm -f "$PGTEST_LOG"
    if _pg_as_postgres "$pgctl" start -w -t 60 -D "$PGTEST_DATA" -l "$PGTEST_LOG" >/dev/null; then
      break
    fi
    if ((attempt == 5)) || ! grep -q 'Address already in use' "$PGTEST_LOG"; then
      echo "pg_start: server failed to start (see log below)" >&2
      return 1
    fi
    echo "pg_start: port $PGTEST_PORT was taken; retrying" >&2
  done

  psql -X -q -v ON_ERROR_STOP=1 \
    "host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=postgres user=postgres" <<'SQL'
CREATE ROLE sqllock_test LOGIN SUPERUSER PASSWORD 's3cret-Pa55';
CREATE DATABASE sqllock_test OWNER sqllock_test;
SQL

  export SQLLOCK_TEST_URL="host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test user=sqllock_test"
  export SQLLOCK_TEST_TCP_URL="postgresql://sqllock_test:s3cret-Pa55@127.0.0.1:$PGTEST_PORT/sqllock_test"
  export SQLLOCK_TEST_ADMIN_URL="host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test user=postgres"
  export SQLLOCK_TEST_WRONGPW_URL="postgresql://sqllock_test:wrong-password@127.0.0.1:$PGTEST_PORT/sqllock_test"
  odbc_load_emulation "$(dirname "${BASH_SOURCE[0]}")/../../tests/mssql/emulation.sql"
  odbc_export_urls
  # Plain single quotes are enough: mktemp names contain only [A-Za-z0-9._/-].
  # Absolute runuser path because the test runner's PATH may lack /usr/sbin.
  export SQLLOCK_TEST_RESTART_CMD="cd / && '$runuser' -u postgres -- '$pgctl' restart -m immediate -w -t 60 -D '$PGTEST_DATA' -l '$PGTEST_LOG' >/dev/null"
  # A server that is down for a while and comes back (the reconnect tests).
  export SQLLOCK_TEST_STOP_CMD="cd / && '$runuser' -u postgres -- '$pgctl' stop -m immediate -w -t 60 -D '$PGTEST_DATA' >/dev/null"
  export SQLLOCK_TEST_START_CMD="cd / && '$runuser' -u postgres -- '$pgctl' start -w -t 60 -D '$PGTEST_DATA' -l '$PGTEST_LOG' >/dev/null"
  echo "pg_start: PostgreSQL 15 on 127.0.0.1:$PGTEST_PORT and $PGTEST_SOCKDIR (log: $PGTEST_LOG)"
}

# Safe to call twice, and from the EXIT trap: never fails, keeps the exit status.
pg_stop() {
  local rc=$? pid _
  [[ -n "${PGTEST_DIR:-}" && -d "$PGTEST_DIR" ]] || return 0
  if [[ -f "$PGTEST_DATA/postmaster.pid" ]] &&
     ! _pg_as_postgres "$PGTEST_PGCTL" stop -m fast -w -t 30 -D "$PGTEST_DATA" >/dev/null; then
    pid=$(head -n 1 "$PGTEST_DATA/postmaster.pid" 2>/dev/null || true)
    # Only signal the PID if it still is *our* postmaster (PIDs get reused).
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$PGTEST_DATA"; then
      echo "pg_stop: pg_ctl stop failed; killing postmaster $pid" >&2
      kill -QUIT "$pid" 2>/dev/null || true  # immediate shutdown, also ends backends
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if ((rc != 0)) && [[ -s "$PGTEST_LOG" ]]; then
    echo "==== last 50 lines of the PostgreSQL log ($PGTEST_LOG) ====" >&2
    tail -n 50 "$PGTEST_LOG" >&2 || true
  fi
  rm -rf "$PGTEST_DIR" || true
  unset PGTEST_DIR PGTEST_PORT PGTEST_SOCKDIR PGTEST_DATA PGTEST_LOG PGTEST_PGCTL \
    SQLLOCK_TEST_URL SQLLOCK_TEST_TCP_URL SQLLOCK_TEST_ADMIN_URL \
    SQLLOCK_TEST_WRONGPW_URL SQLLOCK_TEST_RESTART_CMD SQLLOCK_TEST_STOP_CMD SQLLOCK_TEST_START_CMD \
    SQLLOCK_TEST_ODBC_PG_URL SQLLOCK_TEST_ODBC_MSSQL_URL SQLLOCK_TEST_ODBC_SQLITE_DRIVER
  return 0
}
