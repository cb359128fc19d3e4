#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves two things about the library's symbols.
# 1. libsqllock.a defines no global symbol outside the library's own
#    namespace: public names start with sqllock_, internal ones with
#    sqllock__, so a program linked statically against it can use any other
#    name.
# 2. The transports never reach up: the transport objects (pq_exec, pq_conn,
#    odbc_exec, odbc_connstr) leave undefined no symbol that a backend, a
#    connector or the API files define (see the file map in sqllock_int.h).
# Each check first proves itself on scratch objects that break it.
set -euo pipefail
lib=${1:?usage: $0 LIBSQLLOCK_A OBJECT...}
shift
objects=("$@")
transports=(pq_exec pq_conn odbc_exec odbc_connstr)
# Below the transports, and so theirs to call: the client, its error, the
# held set, redaction, status strings, hashing.
below=(client held status redact keyhash sha256)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: symbols: $*" >&2; exit 1; }

# The global symbols archive $1 defines outside sqllock_*, one per line.
strays() {
  nm -g --defined-only "$1" | awk 'NF == 3 && $3 !~ /^sqllock_/ { print $3 }' | sort -u
}

printf 'int sqllock_fine(void) { return 0; }\nint helper_stray(void) { return 1; }\n' >"$tmp/s.c"
cc -c -o "$tmp/s.o" "$tmp/s.c"
ar rcs "$tmp/libs.a" "$tmp/s.o"
[[ "$(strays "$tmp/libs.a")" == helper_stray ]] || fail "the check missed helper_stray: '$(strays "$tmp/libs.a")'"

[[ -f "$lib" ]] || fail "no such library: $lib"
bad=$(strays "$lib")
[[ -z "$bad" ]] || fail "$lib defines globals without the sqllock_ prefix:"$'\n'"$bad"
n=$(nm -g --defined-only "$lib" | awk 'NF == 3' | wc -l)
echo "PASS: symbols: $n global symbols in $(basename "$lib"), all sqllock_*"

# The symbols objects $2... define, for those whose basename is not in $1
# (a |-separated list) nor a transport.
defined_above() {
  local skip=$1 o b
  shift
  for o in "$@"; do
    b=$(basename "$o"); b=${b%%.*}
    [[ "|$skip|" == *"|$b|"* ]] && continue
    nm -g --defined-only "$o" | awk 'NF == 3 { print $3 }'
  done | sort -u
}
# The symbols transport object $1 needs from the set in file $2.
reaches_up() {
  nm -u "$1" | awk '{ print $2 }' | sort -u | comm -12 - "$2"
}

printf 'int sqllock__backend_thing(void) { return 2; }\n' >"$tmp/backend.c"
printf 'int sqllock__backend_thing(void);\nint t(void) { return sqllock__backend_thing(); }\n' >"$tmp/pq_exec.c"
cc -c -o "$tmp/backend.c.o" "$tmp/backend.c"
cc -c -o "$tmp/pq_exec.c.o" "$tmp/pq_exec.c"
defined_above "" "$tmp/backend.c.o" >"$tmp/above"
[[ "$(reaches_up "$tmp/pq_exec.c.o" "$tmp/above")" == sqllock__backend_thing ]] ||
  fail "the layering check missed a transport calling sqllock__backend_thing"

((${#objects[@]})) || fail "no object files given (the layering check needs them)"
skip=$(IFS='|'; echo "${transports[*]}|${below[*]}")
defined_above "$skip" "${objects[@]}" >"$tmp/above"
[[ -s "$tmp/above" ]] || fail "no symbols above the transports: wrong object list?"
checked=0
for o in "${objects[@]}"; do
  b=$(basename "$o"); b=${b%%.*}
  [[ " ${transports[*]} " == *" $b "* ]] || continue
  up=$(reaches_up "$o" "$tmp/above")
  [[ -z "$up" ]] || fail "transport $b calls up into:"$'\n'"$up"
  checked=$((checked + 1))
done
((checked >= 2)) || fail "only $checked transport objects found among the objects given"
echo "PASS: symbols: $checked transport objects call nothing above them ($(wc -l <"$tmp/above") symbols defined above)"
