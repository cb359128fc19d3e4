#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs one event-loop example (examples/loop_*.c) against the test server:
# usage run.sh PROGRAM [OPTION ...]. The example checks its own record (no
# two holders of a name at once, every round done) and bounds its own run;
# its exit status is the test's. Skips (77) without SQLLOCK_TEST_URL,
# unless SQLLOCK_TEST_REQUIRE_SERVER says a server is required (ci/test).
set -euo pipefail
prog=${1:?usage: $0 PROGRAM [OPTION ...]}
shift
if [[ -z "${SQLLOCK_TEST_URL:-}" ]]; then
  if [[ -n "${SQLLOCK_TEST_REQUIRE_SERVER:-}" ]]; then
    echo "FAIL: SQLLOCK_TEST_URL is not set and a server is required" >&2
    exit 1
  fi
  echo "SKIP: SQLLOCK_TEST_URL is not set (source ci/lib/pg.sh; pg_start)"
  exit 77
fi
exec "$prog" "$@" "$SQLLOCK_TEST_URL"
