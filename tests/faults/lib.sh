# SPDX-License-Identifier: MIT
# Shared by the fault tests (tests/faults/*.sh); sourced, never run.
#
#   source "$(dirname "$0")/lib.sh"
#   fault_cluster            # a throwaway PostgreSQL of this test's own
#                            # (PGTEST_EXTRA_CONF / PGTEST_EXTRA_HBA apply)
#   on_exit 'CMD'            # run when the test ends, however it ends
#
# A fault test restarts, partitions or reconfigures its server, so it never
# uses the shared CI cluster: each starts its own through ci/lib/pg.sh
# (random private port, socket directory under /tmp), stopped on exit.
# Every wait is bounded (wait_until, bounded_wait); nothing sleeps to
# synchronise where a lock, a barrier or a poll of the server can serve.
# shellcheck shell=bash
set -euo pipefail

FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$FAULTS_DIR/../.." && pwd)
TEST=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sqllock-fault-$TEST.XXXXXX")
chmod 755 "$TMP"

EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$*"); }

_fault_cleanup() {
  local rc=$? pid hook i
  ((BASHPID == $$)) || return "$rc"
  # Last registered first: a namespace goes before the server it reached.
  for ((i = ${#EXIT_HOOKS[@]} - 1; i >= 0; i--)); do eval "${EXIT_HOOKS[i]}" || true; done
  for pid in $(jobs -pr 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0)) && [[ -s "${PGTEST_LOG:-}" ]]; then
    echo "==== last 30 lines of this test's server log ====" >&2
    tail -n 30 "$PGTEST_LOG" >&2 || true
  fi
  if declare -F pg_stop >/dev/null; then pg_stop; fi
  if ((rc == 0)); then rm -rf "$TMP"; echo "PASS: $TEST"
  else echo "FAIL: $TEST (kept $TMP)" >&2; fi
  return "$rc"
}
trap _fault_cleanup EXIT

fail() { echo "FAIL: $TEST: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
# report KEY VALUE: a measured figure, also collected as one JSON line.
report() { echo "figure: $TEST $1 = $2"; printf '{"test":"%s","figure":"%s","value":"%s"}\n' "$TEST" "$1" "$2" >>"${SQLLOCK_FAULT_FIGURES:-/dev/null}"; }

source "$(dirname "${BASH_SOURCE[0]}")/../lib/bounded.sh"

# Starts this test's own server. The EXIT trap pg_start sets is replaced by
# ours again (ours calls pg_stop after the hooks).
fault_cluster() {
  ((EUID == 0)) || { echo "SKIP: $TEST: needs root (postgres user, namespaces)"; exit 77; }
  command -v runuser >/dev/null && [[ -x /usr/lib/postgresql/15/bin/initdb ]] || {
    [[ -n "${SQLLOCK_TEST_REQUIRE_SERVER:-}" ]] && fail "PostgreSQL 15 is not installed"
    echo "SKIP: $TEST: PostgreSQL 15 is not installed"; exit 77; }
  # shellcheck source=../../ci/lib/pg.sh
  source "$REPO_DIR/ci/lib/pg.sh"
  pg_start >/dev/null
  trap _fault_cleanup EXIT
  unset PGAPPNAME DATABASE_URL SQLLOCK_URL
}

# admin SQL on this test's server: one row per line, fields separated by |
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" -c "$1"; }
