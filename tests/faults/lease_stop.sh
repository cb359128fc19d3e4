#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that a lease holder frozen past its TTL (SIGSTOP) and then thawed
# (SIGCONT) cannot act as the holder any more: its fenced write is refused
# and check, extend and release report LOST, while another took the lease over
# with a higher token. Three fenced lease workloads, three freezes; the
# checker must find no overlap (A), lost update (B), out-of-order accepted
# fenced write (C) or non-increasing lease token (D).
source "$(dirname "$0")/lib.sh"
source "$FAULTS_DIR/workload_lib.sh"

TTL_MS=1000
wl_cluster
declare -A PROC_OF=()
for i in 1 2 3; do
  # No checks while holding (--check-ms 0): a thawed holder goes straight
  # to its write, which only the fence can stop.
  wl_start "lease$i" --mode lease --fence --name leased --seconds 25 --ttl-ms "$TTL_MS" \
    --hold-ms 100 --check-ms 0 --wait-ms 300
  PROC_OF[${WL_PIDS[lease$i]}]=lease$i
done

holder() {
  HOLDER=$(sql "SELECT owner_pid || ' ' || token FROM sqllock_lease
                WHERE name = convert_to('leased', 'UTF8') AND NOT released
                  AND expires_at > clock_timestamp() + interval '200 ms'")
  [[ -n "$HOLDER" && -n "${PROC_OF[${HOLDER%% *}]:-}" ]]
}
# Another workload wrote the counter under a newer token than the victim's.
taken_over() {
  (($(sql "SELECT count(*) FROM counter_log WHERE name = 'leased'
           AND proc <> '$1' AND token > $2") > 0))
}
# The victim's steps after the thaw, for the lease it held, up to its release.
steps_after() {
  awk -F'\t' -v t="$thawed" -v tok="$token" \
    '$1 >= t && $5 == tok && $3 != "fault" && $3 != "release_invoke" {print $3 " " $7}
     $1 >= t && $5 == tok && $3 ~ /^release_(ok|fail)$/ {exit}' "$HIST/$victim"
}
released() { steps_after | grep -q '^release_'; }

# Nothing the victim sent is still running at the server.
settled() { (($(sql "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = '$1' AND state <> 'idle'") == 0)); }
still_held() { [[ "$(sql "SELECT NOT released FROM sqllock_lease
                          WHERE name = convert_to('leased', 'UTF8') AND token = $1")" == t ]]; }

round=0
for _ in $(seq 1 10); do
  ((round < 3)) || break
  wait_until 10 holder
  pid=${HOLDER%% *} token=${HOLDER#* } victim=${PROC_OF[$pid]}
  wl_mark "$victim" fault "sigstop pid=$pid token=$token"
  kill -STOP "$pid"
  wait_until 5 settled "$victim"
  if ! still_held "$token"; then  # frozen just after its release: not a stale holder
    kill -CONT "$pid"
    wl_mark "$victim" fault "sigcont pid=$pid token=$token"
    continue
  fi
  round=$((round + 1))
  wait_until $((TTL_MS / 1000 + 10)) taken_over "$victim" "$token"
  thawed=$("$BIN/workload_mark" --now)
  kill -CONT "$pid"
  wl_mark "$victim" fault "sigcont pid=$pid token=$token"
  wait_until 10 released
  steps=$(steps_after | paste -sd ';')
  case "$steps" in
    "lost fence_refused_write;release_fail LOST check=LOST extend=LOST" | "release_fail LOST")
      ok "round $round: thawed $victim (token $token): $steps" ;;
    *) fail "round $round: thawed $victim (token $token) went on as holder: $steps" ;;
  esac
done
((round == 3)) || fail "only $round of 10 freezes caught a holder before its release"
wl_wait 40

wl_check
((CHECK_RC == 0)) || fail "the checker found violations (histories in $TMP)"
refused=$(sql "SELECT count(*) FROM fence_log WHERE NOT accepted")
report fenced_writes_refused "$refused"
report acquisitions "$(wl_figure acquisitions)"
ok "three frozen lease holders could not write or release after their TTL"
