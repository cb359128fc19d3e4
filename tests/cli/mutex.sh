#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves mutual exclusion across processes: 8 `sqllock run` processes queue
# for one lock at the same time, each around a PROGRAM that reads a shared
# file, sleeps and appends (not atomic on its own). The file must show
# strict alternation, begin/end of one PROGRAM at a time, each exactly once,
# and every read must have seen all the earlier appends.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

N=8
name="$UNIQ"
key=$(key_of "$name")
shared=$TMP/shared
: >"$shared"
cat >"$TMP/worker.sh" <<'SH'
# read: how many lines are there; sleep; append what was read, then more
n=$(wc -l <"$1")
sleep 0.1
echo "begin $2 $n" >>"$1"
sleep 0.02
echo "end $2" >>"$1"
SH

# A holder keeps the lock until all N have queued behind it (the barrier).
gate_close "$TMP/gate"
"$SQLLOCK" run "$name" -- flock -w 20 "$TMP/gate" true &
holder=$!
wait_until 10 count_is 1 "$key" t

pids=()
for i in $(seq 1 $N); do
  "$SQLLOCK" run "$name" -- bash "$TMP/worker.sh" "$shared" "$i" &
  pids+=($!)
done
wait_until 10 count_is $N "$key" f
ok "$N sqllock run processes wait for the lock at once"
gate_open

bounded_wait 20 "$holder"
((RC == 0)) || fail "the holder exited $RC"
for i in "${!pids[@]}"; do
  bounded_wait 20 "${pids[$i]}"
  ((RC == 0)) || fail "worker $((i + 1)) exited $RC"
done

# Strict alternation: line 2k is "begin ID 2k", line 2k+1 is "end ID".
mapfile -t lines <"$shared"
((${#lines[@]} == 2 * N)) || fail "expected $((2 * N)) lines, got ${#lines[@]}: $(cat "$shared")"
seen=()
for ((k = 0; k < N; k++)); do
  read -r b id n <<<"${lines[2 * k]}"
  [[ "$b" == begin && "$n" == $((2 * k)) ]] ||
    fail "line $((2 * k + 1)) is '${lines[2 * k]}': interleaved. File: $(cat "$shared")"
  [[ "${lines[2 * k + 1]}" == "end $id" ]] ||
    fail "line $((2 * k + 2)) is '${lines[2 * k + 1]}', not 'end $id'. File: $(cat "$shared")"
  [[ -z "${seen[$id]:-}" ]] || fail "worker $id ran twice"
  seen[$id]=1
done
((${#seen[@]} == N)) || fail "not every worker ran"
ok "the shared file shows strict alternation, each of the $N ran once"
[[ "$(lock_count "$key" t)$(lock_count "$key" f)" == 00 ]] || fail "the lock is still held"
ok "nothing holds or waits for the lock afterwards"
