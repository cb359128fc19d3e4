#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that `ci/format --check` fails on a file that is not formatted and
# leaves it untouched, that `ci/format` formats it in place (in the
# repository's style: 4-space indent, the function's brace on a line of its
# own), and that --check then passes. Works on a scratch file, never on the
# tree. Skipped where clang-format-14 is not installed.
set -euo pipefail
repo=${1:?usage: $0 REPO}
command -v clang-format-14 >/dev/null || { echo "SKIP: clang-format-14 is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: format: $*" >&2; exit 1; }

f=$tmp/bad.c
printf 'int f(int x) {\n  return x+1;\n}\n' >"$f"
cp "$f" "$tmp/orig.c"
if bash "$repo/ci/format" --check "$f" >"$tmp/out" 2>&1; then fail "--check passed on $f"; fi
grep -q "would change" "$tmp/out" || fail "--check did not name the file: $(cat "$tmp/out")"
cmp -s "$f" "$tmp/orig.c" || fail "--check changed the file"
bash "$repo/ci/format" "$f"
want=$'int f(int x)\n{\n    return x + 1;\n}'
[[ "$(cat "$f")" == "$want" ]] || fail "formatted as: $(cat "$f")"
bash "$repo/ci/format" --check "$f" >/dev/null || fail "--check failed after formatting"
echo "PASS: format"
