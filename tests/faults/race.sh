#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves: when a holder releases at the instant a waiter's wait expires,
# sqllock_acquire's TIMEOUT always means the waiter does not hold the lock
# and OK always means it does (pg_locks, seen from an admin connection),
# over thousands of rounds (SQLLOCK_RACE_ROUNDS, default 3000) on the unix
# socket and on TCP (test_race.c). Figures per transport: rounds, outcomes,
# disagreements, wall time, and where after the barrier the releases
# settled (boundary_us: the instant the 5 ms wait expires, as measured).
#
# usage: race.sh BUILD_DIR_OF_TESTS_FAULTS
source "$(dirname "$0")/lib.sh"
fault_cluster

for via in unix:SQLLOCK_TEST_URL tcp:SQLLOCK_TEST_TCP_URL; do
  out=$(SQLLOCK_SUITE_URL_VAR=${via#*:} "$1/test_race" boundary) || { echo "$out"; fail "${via%%:*}: test_race failed"; }
  echo "$out"
  line=$(grep '^race: ' <<<"$out")
  for figure in rounds timeout ok disagreements wall_ms boundary_us; do
    report "${via%%:*}_$figure" "$(sed -n "s/.* $figure=\([0-9]*\).*/\1/p" <<<"$line")"
  done
done
