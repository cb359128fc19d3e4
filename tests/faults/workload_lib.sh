# SPDX-License-Identifier: MIT
# Shared by the fault runs judged by the checker (broken, kill, lease_stop,
# chaos, failover); sourced after lib.sh, never run.
#
#   wl_cluster                  fault_cluster + the lease and log tables
#   wl_start PROC ARGS...       a workload (workload.c) in the background,
#                               on WL_URL (default: the primary's URL)
#   wl_wait SECONDS             waits for every workload; fails on a bad exit
#   wl_mark PROC EVENT DETAIL [AT_NS]   an injector's history line
#   wl_terminate PATTERN        ends the backend of one advisory-lock holder
#   wl_stop_start               pg_ctl stop -m immediate, then start
#   wl_failover [PID...]        the primary stopped so (PIDs of its killed
#                               first), the standby promoted
#                               (ci/lib/pg_standby.sh) and made the primary
#   wl_check [checker options]  dumps the server's logs, runs the checker
# Histories and dumps stay in $TMP, which lib.sh keeps when the test fails.
# shellcheck shell=bash

BIN=${1:?usage: $0 BUILD_DIR_OF_TESTS_FAULTS}
HIST=$TMP/history
SERVER=$TMP/server
mkdir -p "$HIST" "$SERVER"
declare -A WL_PIDS=()

wl_cluster() {
  # An acknowledged lease grant must survive `pg_ctl stop -m immediate`;
  # under pg.sh's asynchronous commit the crash may undo it, and the lease
  # is then granted twice.
  PGTEST_EXTRA_CONF=${PGTEST_EXTRA_CONF:-}$'\nsynchronous_commit = on'
  fault_cluster
  psql -X -q -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" \
    -f "$REPO_DIR/sql/postgresql.sql" -f "$FAULTS_DIR/schema.sql" >/dev/null
}

wl_start() {
  local proc=$1
  shift
  "$BIN/workload" --url "${WL_URL:-$SQLLOCK_TEST_URL}" --proc "$proc" --history "$HIST/$proc" "$@" \
    >"$TMP/$proc.out" 2>&1 &
  WL_PIDS[$proc]=$!
}

wl_wait() {
  local proc end=$(($(now_ms) / 1000 + $1))
  for proc in "${!WL_PIDS[@]}"; do
    bounded_wait $((end - $(now_ms) / 1000 > 1 ? end - $(now_ms) / 1000 : 1)) "${WL_PIDS[$proc]}"
    cat "$TMP/$proc.out"
    ((RC == 0)) || fail "workload $proc exited with $RC"
  done
}

wl_mark() { "$BIN/workload_mark" "$HIST/injector" "$1" "$2" - "$3" ${4:+"$4"}; }

# Picks one session holding an advisory lock (application_name LIKE PATTERN)
# and terminates it, waiting until it is gone. The victim's session_gone is
# stamped before the terminate is sent: the lock cannot pass on earlier.
# Sets VICTIM (empty when nobody held one).
wl_terminate() {
  local row pid
  row=$(sql "SELECT a.pid || ' ' || a.application_name FROM pg_locks l
             JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '$1'
             ORDER BY random() LIMIT 1")
  VICTIM=${row#* }
  [[ -n "$row" ]] || return 0
  pid=${row%% *}
  wl_mark "$VICTIM" session_gone "backend=$pid"
  [[ "$(sql "SELECT pg_terminate_backend($pid, 10000)")" == t ]] \
    || fail "backend $pid of $VICTIM did not end within 10 s"
}

_pgctl() { (cd / && runuser -u postgres -- "$PGTEST_PGCTL" "$@" -D "$PGTEST_DATA" >/dev/null); }

# Every proc's sessions end; none can start until the server is down, which
# is the until_ns the checker gets. Sets WL_STOP_NS (before the stop) and
# WL_DOWN_NS (once it is down), monotonic.
_wl_stop() {
  local proc
  WL_STOP_NS=$("$BIN/workload_mark" --now)
  (($# == 0)) || kill -KILL "$@"
  _pgctl stop -m immediate -w -t 60
  WL_DOWN_NS=$("$BIN/workload_mark" --now)
  for proc in "${!WL_PIDS[@]}"; do wl_mark "$proc" session_gone "until_ns=$WL_DOWN_NS" "$WL_STOP_NS"; done
}

wl_stop_start() {
  _wl_stop
  _pgctl start -w -t 60 -l "$PGTEST_LOG"
}

# Sets WL_PROMOTED_NS too: once the promotion is confirmed (pg_standby_promote).
wl_failover() {
  _wl_stop "$@"
  pg_standby_promote
  WL_PROMOTED_NS=$("$BIN/workload_mark" --now)
  pg_standby_swap
}

wl_check() {
  local t
  for t in counter_log counters fence_log grant_log; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" \
      -c "\\copy (SELECT * FROM $t ORDER BY 1) TO '$SERVER/$t.tsv'"
  done
  CHECK_RC=0
  "$BIN/checker" --history "$HIST" --server "$SERVER" "$@" >"$TMP/checker.out" || CHECK_RC=$?
  cat "$TMP/checker.out"
}

# How many acquisitions the workloads have recorded so far.
wl_acquired() { cat "$HIST"/* | grep -c $'\tacquire_ok\t' || true; }
# True once a history line after the previous wl_acquired has been written
# n times more: the workloads make progress again.
wl_progress() { (($(wl_acquired) >= $1)); }
# The checker's JSON line, field $1.
wl_figure() { tail -n 1 "$TMP/checker.out" | jq -r ".$1"; }
