#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that ci/spdx puts "SPDX-License-Identifier: MIT" first in a C file
# and a CMake file, second after a script's #! line (which stays first and
# executable), leaves a file that has one alone, adds nothing when run
# again, and that --check fails (changing nothing) before and passes after.
# Then the same on a scratch copy of the whole tree (ci/spdx without FILEs):
# afterwards every script still parses. Never touches the tree itself.
set -euo pipefail
repo=${1:?usage: $0 REPO}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: spdx: $*" >&2; exit 1; }

d=$tmp/files
mkdir "$d"
printf '/*\n * A file.\n */\nint x;\n' >"$d/a.c"
printf '#!/usr/bin/env bash\necho hi\n' >"$d/s.sh"
chmod 755 "$d/s.sh"
printf 'project(p C)\n' >"$d/CMakeLists.txt"
printf '/* SPDX-License-Identifier: MIT */\nint y;\n' >"$d/done.h"
files=("$d/a.c" "$d/s.sh" "$d/CMakeLists.txt" "$d/done.h")
cp -a "$d" "$tmp/orig"

if bash "$repo/ci/spdx" --check "${files[@]}" >"$tmp/out" 2>&1; then fail "--check passed"; fi
[[ "$(grep -c '^ci/spdx: no SPDX line' "$tmp/out")" == 3 ]] || fail "--check said: $(cat "$tmp/out")"
diff -r "$tmp/orig" "$d" >/dev/null || fail "--check changed files"

bash "$repo/ci/spdx" "${files[@]}" >/dev/null
[[ "$(cat "$d/a.c")" == $'/* SPDX-License-Identifier: MIT */\n/*\n * A file.\n */\nint x;' ]] ||
  fail "a.c: $(cat "$d/a.c")"
[[ "$(cat "$d/s.sh")" == $'#!/usr/bin/env bash\n# SPDX-License-Identifier: MIT\necho hi' ]] ||
  fail "s.sh: $(cat "$d/s.sh")"
[[ -x "$d/s.sh" ]] || fail "s.sh lost its x bit"
[[ "$(cat "$d/CMakeLists.txt")" == $'# SPDX-License-Identifier: MIT\nproject(p C)' ]] ||
  fail "CMakeLists.txt: $(cat "$d/CMakeLists.txt")"
cmp -s "$tmp/orig/done.h" "$d/done.h" || fail "done.h was changed"
cp -a "$d" "$tmp/once"
bash "$repo/ci/spdx" "${files[@]}" >/dev/null
diff -r "$tmp/once" "$d" >/dev/null || fail "a second run changed files"
bash "$repo/ci/spdx" --check "${files[@]}" >/dev/null || fail "--check failed after ci/spdx"

# The whole tree, as git tracks it (plus files not yet committed).
t=$tmp/tree
mkdir "$t"
git -C "$repo" ls-files -co --exclude-standard | (cd "$repo" && tar -cf - -T -) | tar -xf - -C "$t"
git -C "$t" init -q && git -C "$t" add -A
bash "$t/ci/spdx" >"$tmp/out"
bash "$t/ci/spdx" --check >"$tmp/out" || fail "--check on the tree copy: $(cat "$tmp/out")"
cat "$tmp/out"
for f in $(git -C "$t" ls-files -- '*.sh' 'ci/*' '.ci/*'); do
  [[ "$f" == *.md ]] && continue
  bash -n "$t/$f" || fail "$f no longer parses"
done
echo "PASS: spdx"
