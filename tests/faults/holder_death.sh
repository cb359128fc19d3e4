#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves, for every backend and for leases, what a holder's death or pause
# does to the next holder queued behind it, and measures it:
#  - SIGKILL: the next holder is granted (a session lock once the server sees
#    the dead client's socket close, a lease at its expiry), and never while
#    the old holder could still believe it holds (the checker, A);
#  - SIGSTOP: a paused session-lock holder keeps its lock, since its socket
#    stays open and its kernel answers for it: the next holder is still
#    waiting after STOP_S s (figure stop-*-held_s), longer than the
#    keepalive idle time the library asks the server for (30 s), until the
#    paused process ends; a paused lease holder loses the lease at its expiry, the next
#    holder gets it with a higher token, and once resumed (SIGCONT) the old
#    holder reports LOST at its next check, and a store fenced by the tokens
#    refuses a write under its token.
# Backends: pg-advisory over libpq (unix socket and TCP) and over psqlODBC
# (TCP), mssql-applock over FreeTDS to the TDS emulator (an EMULATION of SQL
# Server's lock manager, tests/mssql/tds_emulator.py), leases over libpq
# (ttl TTL_MS). Timings are reported, not asserted. A silent partition is
# faults::partition's.
#
# usage: holder_death.sh BUILD_DIR_OF_TESTS_FAULTS
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/pg_locks.sh"
BIN=$1
CLIENT=$BIN/net_client
MARK=$BIN/workload_mark
CLI=$BIN/../../src/cli/sqllock
TTL_MS=3000  # the leases'
CHECK_MS=200 # how often a holder asks whether it still holds
STOP_S=40    # how long paused session-lock holders are watched
for f in "$CLIENT" "$MARK" "$CLI"; do [[ -x "$f" ]] || fail "no $f (build the tests first)"; done

fault_cluster
psql -X -q -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" -f "$REPO_DIR/sql/postgresql.sql" >/dev/null
# shellcheck source=../../ci/lib/mssql.sh
source "$REPO_DIR/ci/lib/mssql.sh"
on_exit mssql_stop
mssql_start >/dev/null || fail "the TDS emulator did not start"

BACKENDS=(pg-unix pg-tcp pg-odbc mssql-tds lease)
declare -A URL=(
  [pg-unix]=$SQLLOCK_TEST_URL
  [pg-tcp]=$SQLLOCK_TEST_TCP_URL
  [pg-odbc]=$SQLLOCK_TEST_ODBC_PG_URL
  [mssql-tds]="$SQLLOCK_TEST_MSSQL_URL;Database=sqllock_test"
  [lease]=$SQLLOCK_TEST_URL
)
ttl_of() { if [[ $1 == lease ]]; then echo "$TTL_MS"; else echo 0; fi; }

# `sqllock status` of NAME, read where the backend keeps it: pg_locks or
# the lease table over libpq, sys.dm_tran_locks through the emulator. It
# names each session by its program, sqllock[<pid>]@<host>, and a lease's
# holder by owner_pid. URLs travel in the environment (passwords).
status() {
  local url=$SQLLOCK_TEST_URL
  [[ $1 == mssql-tds ]] && url=${URL[$1]}
  SQLLOCK_URL=$url "$CLI" status "$2" || true
}
holds() { status "$1" "$2" | grep -Eq "state=held .*(sqllock\[$3\]|owner_pid=$3( |\$))"; }
waits() {
  if [[ $1 == lease ]]; then lease_queued "$2" "$3"; else status "$1" "$2" | grep -q "state=waiting .*sqllock\[$3\]"; fi
}

# start_pair CASE BACKEND: a holder of lock CASE, then a next holder queued
# behind it, each with its history in $TMP/CASE; sets HOLDER and TAKER.
start_pair() {
  local c=$1 b=$2
  mkdir "$TMP/$c"
  NET_TTL_MS=$(ttl_of "$b") NET_URL=${URL[$b]} \
    "$CLIENT" hold "$c" "$TMP/$c/holder" "$CHECK_MS" 120000 2>"$TMP/$c/holder.err" &
  HOLDER=$!
  on_exit "kill -CONT $HOLDER 2>/dev/null; kill -KILL $HOLDER 2>/dev/null"
  wait_until 20 holds "$b" "$c" "$HOLDER"
  NET_TTL_MS=$(ttl_of "$b") NET_URL=${URL[$b]} \
    "$CLIENT" take "$c" "$TMP/$c/taker" 60000 2>"$TMP/$c/taker.err" &
  TAKER=$!
  on_exit "kill -KILL $TAKER 2>/dev/null"
  wait_until 20 waits "$b" "$c" "$TAKER"
}

# A killed holder believes nothing any more: its history says so, stamped
# just before the signal (the server cannot free the lock earlier).
kill_holder() { # CASE PID
  KILLED_NS=$("$MARK" --now)
  "$MARK" "$TMP/$1/holder" holder release_invoke "$1" "SIGKILL" "$KILLED_NS"
  kill -KILL "$2"
}

at() { awk -F'\t' -v e="$2" '$3 == e { print $'"${3:-1}"'; exit }' "$TMP/$1"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
checked() { "$BIN/checker" --history "$TMP/$1" >"$TMP/$1.check" || { cat "$TMP/$1.check" >&2; fail "$1: the checker found overlapping holds"; }; }
declare -A FIG=()

# ---- SIGKILL, one backend after the other --------------------------------
for b in "${BACKENDS[@]}"; do
  c=kill-$b
  start_pair "$c" "$b"
  kill_holder "$c" "$HOLDER"
  bounded_wait $((TTL_MS / 1000 + 10)) "$TAKER"
  ((RC == 0)) || { cat "$TMP/$c/taker.err" >&2; fail "$c: the next holder was not granted after the kill ($RC)"; }
  bounded_wait 5 "$HOLDER"
  checked "$c"
  grant=$(at "$c/taker" acquire_ok)
  FIG[$c]=$(ms "$KILLED_NS" "$grant")
  report "$c-grant_ms" "${FIG[$c]}"
  if [[ $b == lease ]]; then
    deadline=$(at "$c/holder" acquire_ok 7 | sed 's/^deadline_ns=//')
    report "$c-ttl_left_at_kill_ms" "$(ms "$KILLED_NS" "$deadline")"
  fi
  ok "$b: SIGKILL of the holder -> next holder granted after ${FIG[$c]} ms"
done

# ---- SIGSTOP, every backend at once: one watch window for all ------------
declare -A HP=() TP=()
for b in "${BACKENDS[@]}"; do
  start_pair "stop-$b" "$b"
  HP[$b]=$HOLDER TP[$b]=$TAKER
done
STOPPED_NS=$("$MARK" --now)
for b in "${BACKENDS[@]}"; do kill -STOP "${HP[$b]}"; done
ok "paused the ${#BACKENDS[@]} holders"

# The lease's next holder comes at its expiry.
c="stop-lease"
bounded_wait $((TTL_MS / 1000 + 10)) "${TP[lease]}"
((RC == 0)) || { cat "$TMP/$c/taker.err" >&2; fail "$c: the next holder was not granted at the lease's expiry ($RC)"; }
FIG[$c]=$(ms "$STOPPED_NS" "$(at "$c/taker" acquire_ok)")
report "$c-grant_ms" "${FIG[$c]}"
resumed=$("$MARK" --now)
kill -CONT "${HP[lease]}"
bounded_wait 10 "${HP[lease]}"
((RC == 0)) || { cat "$TMP/$c/holder.err" >&2; fail "$c: resumed, the holder did not report LOST (exit $RC)"; }
checked "$c"
report "$c-lost_after_resume_ms" "$(ms "$resumed" "$(at "$c/holder" lost)")"
old=$(at "$c/holder" acquire_ok 5) new=$(at "$c/taker" acquire_ok 5)
((old < new)) || fail "$c: the next holder's token $new is not above the paused holder's $old"
sql "CREATE TABLE fenced (name text PRIMARY KEY, token bigint NOT NULL)"
# The write a token-fenced store accepts: none under a token older than one it has seen.
fenced_write() {
  sql "INSERT INTO fenced VALUES ('$c', $1) ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token
       WHERE fenced.token <= EXCLUDED.token RETURNING 'accepted'"
}
[[ $(fenced_write "$new") == accepted ]] || fail "$c: the next holder's fenced write was refused"
[[ -z $(fenced_write "$old") ]] || fail "$c: the paused holder's fenced write (token $old) was accepted"
ok "lease: paused holder (token $old) lost the lease to token $new after ${FIG[$c]} ms, reported LOST $(ms "$resumed" "$(at "$c/holder" lost)") ms after SIGCONT, its fenced write refused"

# The session locks: watched for STOP_S s from the pause.
taker_granted() { [[ -n $(at "stop-$1/taker" acquire_ok) ]]; }
any_granted() {
  local b
  for b in "${BACKENDS[@]}"; do [[ $b != lease ]] && taker_granted "$b" && return 0; done
  return 1
}
while (($("$MARK" --now) - STOPPED_NS < STOP_S * 1000000000)) && ! any_granted; do sleep 0.2; done
watched_s=$((($("$MARK" --now) - STOPPED_NS) / 1000000000))
for b in "${BACKENDS[@]}"; do
  [[ $b == lease ]] && continue
  c=stop-$b
  if taker_granted "$b"; then
    FIG[$c]="granted after $(ms "$STOPPED_NS" "$(at "$c/taker" acquire_ok)") ms"
  else
    holds "$b" "$c" "${HP[$b]}" || fail "$c: the paused holder's lock is neither held nor granted to the next holder"
    FIG[$c]="still held after $watched_s s"
    report "$c-held_s" "$watched_s"
  fi
  kill -CONT "${HP[$b]}"
  kill_holder "$c" "${HP[$b]}"
  bounded_wait 10 "${TP[$b]}"
  ((RC == 0)) || { cat "$TMP/$c/taker.err" >&2; fail "$c: the next holder was not granted once the paused holder ended ($RC)"; }
  bounded_wait 5 "${HP[$b]}"
  checked "$c"
  ok "$b: SIGSTOP of the holder: ${FIG[$c]}"
done

echo "---- a killed or paused holder: the next holder's grant (ttl $TTL_MS ms for the lease) ----"
printf '%-10s  %-16s  %s\n' backend "SIGKILL->grant" "SIGSTOP->grant"
for b in "${BACKENDS[@]}"; do
  stop=${FIG[stop-$b]}
  [[ $b == lease ]] && stop="$stop ms"
  printf '%-10s  %-16s  %s\n' "$b" "${FIG[kill-$b]} ms" "$stop"
done
