#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that libsqllock.a defines no global symbol outside the library's
# own namespace: public names start with sqllock_, internal ones with
# sqllock__, so a program linked statically against it can use any other
# name. First checks the check itself on a scratch archive that defines a
# stray global (it must fail and name it), then runs it on the library.
set -euo pipefail
lib=${1:?usage: $0 LIBSQLLOCK_A}
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
