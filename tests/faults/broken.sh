#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that the checker can fail: four workloads whose "lock" grants at
# once without asking anyone (workload --mode broken) must be reported with
# overlapping held intervals (A) and lost counter updates (B).
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/workload_lib.sh"

wl_cluster
for i in 1 2 3 4; do
  wl_start "broken$i" --mode broken --name counted --seconds 3 --hold-ms 5
done
wl_wait 30
wl_check --expect A,B
((CHECK_RC == 0)) || fail "the checker did not report both A and B on a lock that does nothing"
ok "the checker reports the broken lock's overlaps and lost updates"
