# SPDX-License-Identifier: MIT
# Shared by the tests of the sqllock command; sourced, never run.
#
#   source "$(dirname "$0")/lib.sh" "$@"   # $1: the sqllock binary
#   need_server SQLLOCK_TEST_URL ...      # skip (77) or fail without a server
#
# Every wait is bounded: background processes are waited for with a watchdog
# (bounded_wait) and conditions are polled with a deadline (wait_until).
# Names are unique per run ($$), so tests can run in parallel on one server.
# shellcheck shell=bash
set -euo pipefail

# Without a controlling terminal, as under CI: `run` then gives PROGRAM a
# process group of its own, the behaviour these tests pin down. (Run from a
# terminal, the tests would otherwise see the terminal behaviour.)
if [[ -z "${SQLLOCK_TEST_NO_TTY:-}" ]] && { : </dev/tty; } 2>/dev/null; then
  SQLLOCK_TEST_NO_TTY=1 exec setsid -w bash "$0" "$@"
fi

SQLLOCK=${1:?usage: $0 PATH/TO/sqllock}
[[ -x "$SQLLOCK" ]] || { echo "FAIL: $SQLLOCK is not an executable" >&2; exit 1; }
TEST=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sqllock-cli-$TEST.XXXXXX")
UNIQ="cli-$TEST-$$-$RANDOM"

EXIT_HOOKS=()
# on_exit CMD...: run CMD (eval'd) when the test ends, however it ends.
on_exit() { EXIT_HOOKS+=("$*"); }

_cleanup() {
  local rc=$? pid hook
  ((BASHPID == $$)) || return "$rc" # a forked child that has not exec'd yet
  for hook in "${EXIT_HOOKS[@]}"; do eval "$hook" || true; done
  for pid in $(jobs -pr 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  if ((rc == 0)); then echo "PASS: $TEST"; fi
  return "$rc"
}
trap _cleanup EXIT

fail() { echo "FAIL: $TEST: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

need_server() {
  local v
  for v in "$@"; do
    if [[ -z "${!v:-}" ]]; then
      if [[ -n "${SQLLOCK_TEST_REQUIRE_SERVER:-}" ]]; then
        fail "$v is not set and a server is required"
      fi
      echo "SKIP: $TEST: $v is not set (source ci/lib/pg.sh; pg_start)"
      exit 77
    fi
  done
  export SQLLOCK_URL=$SQLLOCK_TEST_URL
  unset DATABASE_URL PGAPPNAME
}

source "$(dirname "${BASH_SOURCE[0]}")/../lib/bounded.sh"

# admin SQL: one value per line, fields separated by |
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" -c "$1"; }



# The key of a name, from the server (hashtextextended), for cross-checks.
server_key() { sql "SELECT hashtextextended('$1', 0)"; }

# How many sessions hold (t) or wait for (f) the advisory key, optionally
# only those with the given application_name.
lock_count() {
  local key=$1 granted=$2 app=${3:-}
  sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE l.locktype = 'advisory' AND l.objsubid = 1
         AND l.classid = ((($key)::int8 >> 32) & 4294967295)::oid
         AND l.objid = (($key)::int8 & 4294967295)::oid
         AND l.granted = '$granted'::bool
         AND ('$app' = '' OR a.application_name = '$app')"
}
count_is() {
  local n
  n=$(lock_count "$2" "$3" "${4:-}") || fail "reading pg_locks failed"
  [[ "$n" == "$1" ]]
}

# The key the command gives for a name.
key_of() { "$SQLLOCK" key "$1" | awk '$1 == "key" {print $2}'; }

# hold_gated NAME KEY: a `run` holding NAME until gate_open; sets HOLDER to
# its pid once the server shows the lock held. A job of this shell, so
# bounded_wait can wait for it.
hold_gated() {
  gate_close "$TMP/hold"
  "$SQLLOCK" run "$1" -- flock -w 30 "$TMP/hold" true &
  HOLDER=$!
  wait_until 10 count_is 1 "$2" t
}

# A gate: a local flock(1) lock the test holds; PROGRAMs block on it with
# `flock -w 20 FILE true` until gate_open. Used instead of sleeps.
gate_close() {
  local file=$1
  exec {GATE_FD}>"$file"
  flock "$GATE_FD"
}
# Unlocks rather than just closes: background children inherited the fd.
gate_open() {
  flock -u "$GATE_FD"
  exec {GATE_FD}>&-
}

# expect_fail STATUS CMD...: CMD must exit STATUS, print nothing on stdout
# and exactly one line, starting "sqllock: ", on stderr. Sets $ERR to it.
expect_fail() {
  local want=$1 rc=0
  shift
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  ERR=$(cat "$TMP/err")
  ((rc == want)) || fail "exit $rc, not $want: $* (stderr: $ERR)"
  [[ ! -s "$TMP/out" ]] || fail "stdout not empty: $*: $(cat "$TMP/out")"
  [[ "$(wc -l <"$TMP/err")" -eq 1 ]] || fail "not one line on stderr: $*: $ERR"
  [[ "$ERR" == "sqllock: "* ]] || fail "stderr does not start with 'sqllock: ': $ERR"
}

# Runs a command with SIGINT back to its default: bash starts background
# jobs of a script with SIGINT ignored, and sqllock keeps what was ignored.
# Exec'd, so $! of `default_signals CMD &` is CMD's pid.
default_signals() { exec perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec: $!\n"' -- "$@"; }
