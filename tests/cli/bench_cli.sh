#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Wall time of one `sqllock run -n NAME -- true` against one
# `psql -X -c "select pg_advisory_lock(hashtextextended('NAME', 0))"` on the
# same database: each is a whole process that connects, takes the lock and
# lets it go with its session. The runs are interleaved (sqllock, psql,
# sqllock, ...) so that both see the same server and machine load; local
# flock(1) is timed too, as the floor for "a process that takes a lock".
# Prints figures; never fails on speed.
#
#   tests/cli/bench_cli.sh PATH/TO/sqllock [RUNS]
#   (URLs from SQLLOCK_TEST_URL and SQLLOCK_TEST_TCP_URL, as ci/lib/pg.sh sets)
set -euo pipefail
SQLLOCK=${1:?usage: $0 PATH/TO/sqllock [RUNS]}
RUNS=${2:-50}
name="bench-cli-$$"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# stats FILE: median, p90, mean, min in ms from one microsecond figure per line
stats() {
  sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
    END { printf "median %6.2f ms   p90 %6.2f ms   mean %6.2f ms   min %6.2f ms\n",
          v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, s / NR / 1000, v[1] / 1000 }'
}

bench() {
  local label=$1 url=$2 i t
  local sql="select pg_advisory_lock(hashtextextended('$name', 0))"
  : >"$tmp/sqllock" && : >"$tmp/psql" && : >"$tmp/flock"
  # One of each first, so that neither pays for cold caches in the figures.
  "$SQLLOCK" --url "$url" run -n "$name" -- true
  psql -X -q -At -d "$url" -c "$sql" >/dev/null
  for ((i = 0; i < RUNS; i++)); do
    t=$(us); "$SQLLOCK" --url "$url" run -n "$name" -- true; echo $(($(us) - t)) >>"$tmp/sqllock"
    t=$(us); psql -X -q -At -d "$url" -c "$sql" >/dev/null; echo $(($(us) - t)) >>"$tmp/psql"
    t=$(us); flock "$tmp/lockfile" true; echo $(($(us) - t)) >>"$tmp/flock"
  done
  echo "$label, $RUNS runs each, interleaved:"
  printf '  %-58s %s\n' "sqllock run -n $name -- true" "$(stats "$tmp/sqllock")"
  printf '  %-58s %s\n' "psql -X -c \"select pg_advisory_lock(hashtextextended(...))\"" "$(stats "$tmp/psql")"
  printf '  %-58s %s\n' "flock FILE true (local, no database)" "$(stats "$tmp/flock")"
}

[[ -n "${SQLLOCK_TEST_URL:-}" ]] || { echo "bench_cli: SQLLOCK_TEST_URL is not set" >&2; exit 2; }
echo "sqllock: $("$SQLLOCK" --version | tr '\n' ' ')"
echo "psql:    $(psql --version)"
bench "Unix socket, trust authentication" "$SQLLOCK_TEST_URL"
if [[ -n "${SQLLOCK_TEST_TCP_URL:-}" ]]; then
  bench "TCP 127.0.0.1 with SCRAM password authentication" "$SQLLOCK_TEST_TCP_URL"
fi
