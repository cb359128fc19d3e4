#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that every case a test binary holds is a ctest test: the names
# CMake read from the binary's source (tests/CMakeLists.txt, sqllock_cases,
# which registers one test per name) are exactly the names the binary
# lists with --list. A case row the reader misses (a new format, a
# wrapped line) would otherwise never run and never fail. The comparison
# first proves itself on a list with one name missing.
set -euo pipefail
bin=${1:?usage: $0 BINARY EXPECTED_LIST}
expected=${2:?usage: $0 BINARY EXPECTED_LIST}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" --list | sort >"$tmp/listed"
grep -v '^$' "$expected" | sort >"$tmp/registered"
[[ -s $tmp/listed ]] || { echo "FAIL: $bin --list printed no cases" >&2; exit 1; }

same() { cmp -s "$1" "$2"; }
sed 1d "$tmp/listed" >"$tmp/short"
if same "$tmp/listed" "$tmp/short"; then
  echo "FAIL: the comparison cannot see a missing case" >&2
  exit 1
fi
if ! same "$tmp/listed" "$tmp/registered"; then
  echo "FAIL: $(basename "$bin"): its cases and ctest's differ" >&2
  echo "  only in --list (never run by ctest): $(comm -23 "$tmp/listed" "$tmp/registered" | tr '\n' ' ')" >&2
  echo "  only registered (no such case): $(comm -13 "$tmp/listed" "$tmp/registered" | tr '\n' ' ')" >&2
  exit 1
fi
echo "$(basename "$bin"): $(wc -l <"$tmp/listed") cases, each a ctest test"
