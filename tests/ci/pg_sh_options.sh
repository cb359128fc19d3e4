#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that sourcing ci/lib/pg.sh (and the odbc.sh it sources) into a
# shell leaves that shell's options as they were: `set -o`, `shopt` and $-
# are compared before and after, in a fresh bash that sets no options of its
# own, the way a newcomer's interactive shell would source it.
set -euo pipefail
pg_sh=${1:?usage: $0 PATH/TO/ci/lib/pg.sh}

# The child prints the three listings before and after, separated by a line
# of its own; nothing in them depends on anything but the shell's options.
# shellcheck disable=SC2016  # expanded by the child bash
out=$(env -i PATH="$PATH" bash --norc --noprofile -c '
  snap() { set -o; shopt; echo "flags: ${-//c/}"; }
  snap
  echo "==== sourced ===="
  source "$1" || echo "source failed: $?"
  snap
' pg_sh_options "$pg_sh")
before=$(sed '/^==== sourced ====$/,$d' <<<"$out")
after=$(sed '1,/^==== sourced ====$/d' <<<"$out")
if [[ "$before" != "$after" ]]; then
  echo "FAIL: sourcing $pg_sh changed the shell's options:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "PASS: pg_sh_options ($(wc -l <<<"$before") option lines unchanged)"
