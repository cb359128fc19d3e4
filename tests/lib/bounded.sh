# SPDX-License-Identifier: MIT
# Bounded waiting for the test scripts; sourced by tests/cli/lib.sh and
# tests/faults/lib.sh, which define fail(). Every wait has a deadline.
# shellcheck shell=bash

now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

# wait_until SECONDS COMMAND...: polls COMMAND every 50 ms; fails at the deadline.
wait_until() {
  local limit=$1 deadline
  shift
  deadline=$(($(now_ms) + limit * 1000))
  until "$@"; do
    (($(now_ms) < deadline)) || fail "timed out after ${limit}s waiting for: $*"
    sleep 0.05
  done
}

# bounded_wait SECONDS PID: sets RC to the exit status of a background job,
# which is killed (RC 137) if it has not ended in time. Not for $(...): a
# subshell cannot wait for its parent's children.
bounded_wait() {
  local deadline=$(($(now_ms) + $1 * 1000)) pid=$2
  while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  RC=0
  wait "$pid" || RC=$?
}
