#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that advisory locks and fenced leases stay safe under random faults:
# 8 workloads (4 advisory, 4 fenced lease, on different names) run for
# SQLLOCK_CHAOS_SECONDS (60) while, every 1-5 s, a random holder's backend is
# terminated, or the server is stopped with `pg_ctl stop -m immediate` and
# started, or it fails over: the primary stopped so, its synchronous
# standby promoted, and a new standby rebuilt from the new primary in the
# old one's place (at least one failover per run: if none came by half
# time, the next fault is one). The rebuild is done within the run, before
# the next fault: pg_basebackup of this small database takes about a
# second, and a standby that is synchronous again is what makes the next
# failover lose nothing. Clients use the multi-host URL of both servers
# (target_session_attrs=read-write). The checker must find zero violations
# of A-E. The schedule is seeded (SQLLOCK_CHAOS_SEED, printed) so that a
# failing run can be replayed.
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/workload_lib.sh"

RUN_S=${SQLLOCK_CHAOS_SECONDS:-60}
SEED=${SQLLOCK_CHAOS_SEED:-$((10#${EPOCHREALTIME#*.} % 32768))}
RANDOM=$SEED
echo "chaos: seed $SEED (SQLLOCK_CHAOS_SEED=$SEED replays the fault schedule), $RUN_S s"

wl_cluster
on_exit pg_standby_stop
pg_standby_start sync
WL_URL=$(pg_multihost_url)
declare -A PROC_OF=()
for i in 1 2 3 4; do
  wl_start "adv$i" --mode advisory --name chaos_adv --names 2 --seconds "$RUN_S" \
    --hold-ms 30 --check-ms 10 --wait-ms 500
  wl_start "lease$i" --mode lease --fence --name chaos_lease --names 2 --seconds "$RUN_S" \
    --ttl-ms 2000 --hold-ms 30 --check-ms 10 --wait-ms 300
  PROC_OF[${WL_PIDS[lease$i]}]=lease$i
done

# Ends every session of one lease holder. Its lease outlives them (rows do),
# so this is a fault, not a session_gone: the holder must notice and stop.
terminate_lease_holder() {
  local pid proc
  pid=$(sql "SELECT owner_pid FROM sqllock_lease WHERE NOT released
             AND expires_at > clock_timestamp() ORDER BY random() LIMIT 1")
  proc=${PROC_OF[${pid:-none}]:-}
  [[ -n "$proc" ]] || return 0
  wl_mark "$proc" fault terminate_sessions
  sql "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
       WHERE application_name = '$proc'" >/dev/null
  lease_kills=$((lease_kills + 1))
}

# The standby promoted, and a new synchronous one in the old primary's place.
failover() {
  local t
  wl_failover
  t=$(now_ms)
  pg_standby_rebuild sync
  t=$(($(now_ms) - t))
  ((t <= rebuild_max_ms)) || rebuild_max_ms=$t
  failovers=$((failovers + 1))
}

adv_kills=0 lease_kills=0 restarts=0 failovers=0 rebuild_max_ms=0
half=$(($(now_ms) + RUN_S * 500))
end=$(($(now_ms) + (RUN_S - 4) * 1000))
while (($(now_ms) < end)); do
  # Pacing, not synchronisation: faults come at random intervals of 1-5 s.
  sleep "$((1 + RANDOM % 4)).$((RANDOM % 10))"
  kind=$((RANDOM % 11))
  ((failovers > 0 || $(now_ms) < half)) || kind=10
  case $kind in
    10) failover ;;
    0 | 1) wl_stop_start; restarts=$((restarts + 1)) ;;
    2 | 3 | 4 | 5) wl_terminate 'adv%'; [[ -z "$VICTIM" ]] || adv_kills=$((adv_kills + 1)) ;;
    *) terminate_lease_holder ;;
  esac
done
wl_wait $((RUN_S + 30))

wl_check
((CHECK_RC == 0)) || fail "the checker found violations (seed $SEED, histories in $TMP)"
((adv_kills + lease_kills + restarts + failovers >= RUN_S / 6)) || fail "too few faults were injected"
((failovers > 0)) || fail "no failover was injected"
report seed "$SEED"
report acquisitions "$(wl_figure acquisitions)"
report advisory_terminations "$adv_kills"
report lease_holder_terminations "$lease_kills"
report restarts "$restarts"
report failovers "$failovers"
report standby_rebuild_max_ms "$rebuild_max_ms"
for f in possible_A detect_n detect_min_ms detect_median_ms detect_max_ms; do
  report "$f" "$(wl_figure "$f")"
done
ok "no violation under $((adv_kills + lease_kills)) terminations, $restarts restarts and $failovers failovers"
