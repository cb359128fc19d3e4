#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that a client on a multi-host URL gets past a first host that
# hangs (accepts TCP, never answers: an old primary frozen or cut off) to
# the server after it, blocking and in an event loop (hung_host.c says how).
source "$(dirname "$0")/lib.sh"
BIN=$1
fault_cluster
"$BIN/hung_host" "$PGTEST_SOCKDIR" "$PGTEST_PORT" ||
  fail "a client did not get past the hung first host to the server"
ok "both ways of connecting passed the hung host"
