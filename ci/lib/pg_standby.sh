# SPDX-License-Identifier: MIT
# A streaming standby of the cluster pg_start started, and failover to it;
# sourced by ci/lib/pg.sh, never run.
#
#   pg_standby_start [sync]  a hot standby (pg_basebackup -R) of the primary
#                            (PGTEST_*), in PGTEST_DIR/standby, Unix socket only;
#                            exports PGSB_DATA PGSB_SOCKDIR PGSB_PORT PGSB_LOG
#                            PGSB_URL; returns once it streams. sync: the
#                            primary's commits then wait for it (application
#                            name $PGSB_APPNAME, synchronous_commit = on)
#   pg_standby_promote       promotes it; returns once it accepts writes
#   pg_standby_swap          after a failover: the promoted standby becomes
#                            PGTEST_* (the primary every helper talks to),
#                            the old primary's place becomes PGSB_*
#   pg_standby_rebuild [sync]  a new standby of the current primary in the
#                            PGSB_* place (its old data is discarded)
#   pg_standby_stop          stops the standby (if running); never fails
#   pg_multihost_url         the URL a client uses to follow the primary:
#                            both servers, libpq skipping the standby
#
# The standby's directory lies under PGTEST_DIR, which pg_stop removes:
# pg_standby_stop must run before it (tests/faults/lib.sh's on_exit hooks do).
# shellcheck shell=bash

PGSB_APPNAME=sqllock_standby

_pgsb_pgctl() { _pg_as_postgres "$PG_BINDIR/pg_ctl" "$@"; }

_pgsb_in_recovery() {
  [[ $(psql -X -At -d "host=$PGSB_SOCKDIR port=$PGSB_PORT dbname=postgres user=postgres" \
    -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == "$1" ]]
}

# The primary reports the standby as streaming (and, for sync, as the
# synchronous one).
_pgsb_attached() {
  local want="state = 'streaming'"
  [[ "${1:-}" == sync ]] && want="$want AND sync_state = 'sync'"
  [[ $(psql -X -At -d "$SQLLOCK_TEST_ADMIN_URL" -c "SELECT count(*) FROM pg_stat_replication
       WHERE application_name = '$PGSB_APPNAME' AND $want" 2>/dev/null) == 1 ]]
}

# _pgsb_until SECONDS WHAT CMD...: CMD polled every 50 ms, bounded.
_pgsb_until() {
  local limit=$1 what=$2 deadline=$(($(date +%s%3N) + $1 * 1000))
  shift 2
  until "$@"; do
    if (($(date +%s%3N) >= deadline)); then
      echo "pg_standby: timed out after ${limit}s waiting until $what" >&2
      return 1
    fi
    sleep 0.05
  done
}

# Copies the primary into PGSB_DATA and starts it as a standby there.
_pgsb_clone() {
  local mode=${1:-async}
  rm -rf "$PGSB_DATA"
  mkdir -p -m 700 "$PGSB_DATA"
  mkdir -p "$PGSB_SOCKDIR"
  chown postgres:postgres "$PGSB_DATA" "$PGSB_SOCKDIR" "$(dirname "$PGSB_DATA")"
  _pg_as_postgres "$PG_BINDIR/pg_basebackup" -D "$PGSB_DATA" -R -c fast -X stream \
    -h "$PGTEST_SOCKDIR" -p "$PGTEST_PORT" -U postgres
  # A primary's own synchronous_standby_names, copied, would make this
  # server, once promoted, wait on every commit for a standby it lacks.
  sed -i '/^synchronous_standby_names/d' "$PGSB_DATA/postgresql.auto.conf"
  # The copied settings are the primary's; later lines win. Unix socket
  # only, in a directory of its own: no TCP port to race for (the port
  # number only names the socket file). cluster_name is the application
  # name the walreceiver reports, which synchronous_standby_names names.
  # After a restart of the primary the standby retries in 0.2 s, not 5:
  # a synchronous primary holds every commit until it is back.
  printf '%s\n' "port = $PGSB_PORT" "listen_addresses = ''" \
    "unix_socket_directories = '$PGSB_SOCKDIR'" "hot_standby = on" \
    "cluster_name = '$PGSB_APPNAME'" "wal_retrieve_retry_interval = 200ms" \
    >>"$PGSB_DATA/sqllock_test.conf"
  rm -f "$PGSB_LOG"
  _pgsb_pgctl start -w -t 60 -D "$PGSB_DATA" -l "$PGSB_LOG" >/dev/null || {
    echo "pg_standby: the standby did not start: $(tail -n 5 "$PGSB_LOG")" >&2
    return 1
  }
  _pgsb_until 30 "the standby is in recovery" _pgsb_in_recovery t
  _pgsb_until 30 "the primary streams to the standby" _pgsb_attached
  [[ "$mode" == sync ]] || return 0
  psql -X -q -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" >/dev/null <<SQL
ALTER SYSTEM SET synchronous_standby_names = '$PGSB_APPNAME';
ALTER SYSTEM SET synchronous_commit = on;
SELECT pg_reload_conf();
SQL
  _pgsb_until 30 "the standby is synchronous" _pgsb_attached sync
}

pg_standby_start() {
  PGSB_DATA=$PGTEST_DIR/standby/data
  PGSB_SOCKDIR=$PGTEST_DIR/standby/sock
  PGSB_LOG=$PGTEST_DIR/standby/server.log
  PGSB_PORT=$((PGTEST_PORT + 1))
  export PGSB_DATA PGSB_SOCKDIR PGSB_LOG PGSB_PORT
  export PGSB_URL="host=$PGSB_SOCKDIR port=$PGSB_PORT dbname=sqllock_test user=sqllock_test"
  _pgsb_clone "$@"
}

pg_standby_promote() {
  _pgsb_pgctl promote -w -t 60 -D "$PGSB_DATA" >/dev/null
  _pgsb_until 30 "the promoted standby accepts writes" _pgsb_in_recovery f
}

# Swaps every PGTEST_* (and the URLs made of them) with its PGSB_* twin.
pg_standby_swap() {
  local v a b was
  for v in DATA SOCKDIR LOG PORT; do
    a=PGTEST_$v b=PGSB_$v was=${!a}
    printf -v "$a" '%s' "${!b}"
    printf -v "$b" '%s' "$was"
  done
  export SQLLOCK_TEST_URL="host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test user=sqllock_test"
  export SQLLOCK_TEST_ADMIN_URL="host=$PGTEST_SOCKDIR port=$PGTEST_PORT dbname=sqllock_test user=postgres"
  export PGSB_URL="host=$PGSB_SOCKDIR port=$PGSB_PORT dbname=sqllock_test user=sqllock_test"
}

pg_standby_rebuild() {
  pg_standby_stop
  _pgsb_clone "$@"
}

pg_standby_stop() {
  [[ -n "${PGSB_DATA:-}" && -f "$PGSB_DATA/postmaster.pid" ]] || return 0
  _pgsb_pgctl stop -m immediate -w -t 30 -D "$PGSB_DATA" >/dev/null 2>&1 || true
}

pg_multihost_url() {
  echo "host=$PGTEST_SOCKDIR,$PGSB_SOCKDIR port=$PGTEST_PORT,$PGSB_PORT dbname=sqllock_test" \
    "user=sqllock_test target_session_attrs=read-write connect_timeout=5"
}
