#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves, on a server whose idle_session_timeout and
# idle_in_transaction_session_timeout are 1 s (cases in test_idle.c):
# a lock on sqllock's own connection survives 3 s idle (the library turns
# both off for its sessions); on a connection the application attached the
# library leaves them as they are, and when one ends the session the lock is
# reported LOST (session and transaction scope) and another client gets it.
# The server log must name both timeouts, so the sessions died of them.
#
# usage: idle.sh BUILD_DIR_OF_TESTS_FAULTS
source "$(dirname "$0")/lib.sh"

PGTEST_EXTRA_CONF="idle_session_timeout = 1s
idle_in_transaction_session_timeout = 1s"
fault_cluster

"$1/test_idle" || fail "test_idle failed"
grep -q 'terminating connection due to idle-session timeout' "$PGTEST_LOG" ||
  fail "no session of this test was ended by idle_session_timeout"
grep -q 'terminating connection due to idle-in-transaction timeout' "$PGTEST_LOG" ||
  fail "no session of this test was ended by idle_in_transaction_session_timeout"
ok "the attached sessions died of the server's idle timeouts"
