#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that the man page renders without a single groff warning (every
# warning enabled) and reads as a man page: NAME, SYNOPSIS and the sections
# the issue asks for. Needs no server; skipped where groff is not installed.
set -euo pipefail
page=${1:?usage: $0 PATH/TO/sqllock.1}
if ! command -v groff >/dev/null; then
  echo "SKIP: groff is not installed"
  exit 77
fi
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
[[ -z "$warnings" ]] || { echo "FAIL: groff warns: $warnings" >&2; exit 1; }
text=$(groff -man -Tutf8 -P-c -P-b -P-u "$page" 2>/dev/null)
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS DURATIONS ENVIRONMENT \
               "EXIT STATUS" EXAMPLES "SEE ALSO"; do
  grep -q "^$section\$" <<<"$text" || { echo "FAIL: no $section section" >&2; exit 1; }
done
echo "PASS: man ($(wc -l <<<"$text") lines)"
