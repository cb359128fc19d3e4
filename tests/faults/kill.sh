#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that advisory locks stay exclusive when their holder's session dies:
# four workloads contend for two names while the holder's backend is
# terminated (pg_terminate_backend) eight times and the server is stopped
# with `pg_ctl stop -m immediate` and started twice. The checker must find
# no overlap of believed-held intervals (A) and no lost counter update (B)
# -- the counter is written in the lock's own session, so a session the
# server ended cannot write. Reports how long a victim takes to notice.
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/workload_lib.sh"

wl_cluster
for i in 1 2 3 4; do
  wl_start "adv$i" --mode advisory --name killed --names 2 --seconds 20 \
    --hold-ms 40 --check-ms 10 --wait-ms 500
done

terminated=0
for _ in $(seq 1 8); do
  wait_until 10 wl_progress $(($(wl_acquired) + 4))
  wl_terminate 'adv%'
  [[ -n "$VICTIM" ]] && terminated=$((terminated + 1))
done
((terminated >= 6)) || fail "only $terminated of 8 terminations found a holder"
for _ in 1 2; do
  wait_until 10 wl_progress $(($(wl_acquired) + 4))
  wl_stop_start
done
wait_until 20 wl_progress $(($(wl_acquired) + 4))
wl_wait 40

wl_check
((CHECK_RC == 0)) || fail "the checker found violations (histories in $TMP)"
(($(wl_figure detect_n) >= terminated)) || fail "fewer detections than terminations"
report terminations "$terminated"
report acquisitions "$(wl_figure acquisitions)"
for f in detect_min_ms detect_median_ms detect_max_ms; do report "$f" "$(wl_figure "$f")"; done
ok "no overlap or lost update across $terminated terminations and 2 immediate restarts"
