#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves `sqllock run NAME1 NAME2 ... -- PROGRAM` takes every name or none:
# 1. none: with one of three names held elsewhere, -n and -w 300ms exit 75,
#    PROGRAM never runs, and pg_locks shows none of the others held;
# 2. refused: a name given twice is a usage error (64);
# 3. crossed: two loops of runs asking for overlapping sets in opposite
#    orders (A B C and C D B), waiting, all exit 0 (no deadlock) and their
#    PROGRAMs never overlap (mkdir is the atomic witness);
# 4. leases: run --ttl 1s with two names keeps both alive past their ttl
#    (others are refused each after 2.5 s), and frees both at the end.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

a=$UNIQ-a b=$UNIQ-b c=$UNIQ-c d=$UNIQ-d
ka=$(key_of "$a") kb=$(key_of "$b") kc=$(key_of "$c")

# 1. One held elsewhere: nothing taken, PROGRAM not run.
hold_gated "$b" "$kb"
for mode in -n "-w 300ms"; do
  rc=0
  # shellcheck disable=SC2086 # $mode is one or two words
  "$SQLLOCK" run $mode "$a" "$b" "$c" -- touch "$TMP/ran" || rc=$?
  ((rc == 75)) || fail "run $mode with $b held elsewhere: exit $rc, not 75"
  [[ ! -e "$TMP/ran" ]] || fail "run $mode ran PROGRAM without all its locks"
  count_is 0 "$ka" t && count_is 0 "$kc" t || fail "run $mode left $a or $c held"
done
ok "with one of three names held elsewhere, -n and -w exit 75 and hold none"
gate_open
bounded_wait 20 "$HOLDER"
"$SQLLOCK" run -n "$c" "$a" "$b" -- touch "$TMP/ran" || fail "run of three free names failed"
[[ -e "$TMP/ran" ]] || fail "PROGRAM did not run"
ok "once free, all three are taken and PROGRAM runs"

# 2. A name twice.
expect_fail 64 "$SQLLOCK" run "$a" "$b" "$a" -- true
[[ "$ERR" == *"given twice"* ]] || fail "the message does not say why: $ERR"
ok "a name given twice is a usage error: $ERR"

# 3. Crossed orders.
cat >"$TMP/worker.sh" <<'SH'
mkdir "$1/in" 2>/dev/null || echo overlap >>"$1/bad"
sleep 0.01
rmdir "$1/in" 2>/dev/null || true
SH
loop() {
  local i
  for ((i = 0; i < 15; i++)); do
    "$SQLLOCK" run -w 20s "$@" -- bash "$TMP/worker.sh" "$TMP" || exit 1
  done
}
loop "$a" "$b" "$c" &
p1=$!
loop "$c" "$d" "$b" &
p2=$!
bounded_wait 60 "$p1"
r1=$RC
bounded_wait 60 "$p2"
((r1 == 0 && RC == 0)) || fail "a run of the crossed loops failed (exits $r1 and $RC)"
[[ ! -e "$TMP/bad" ]] || fail "two PROGRAMs ran at once $(wc -l <"$TMP/bad") time(s)"
ok "2 x 15 runs of A B C and C D B: no deadlock, never two at once"

# 4. Two leases kept alive past their ttl.
gate_close "$TMP/lease"
"$SQLLOCK" run --ttl 1s "$a" "$b" -- flock -w 30 "$TMP/lease" true &
holder=$!
# leased NAME: another run of NAME is refused (75) as a lease is held.
leased() {
  local rc=0
  "$SQLLOCK" run -n --ttl 1s "$1" -- true || rc=$?
  ((rc == 75))
}
wait_until 10 leased "$b"
sleep 2.5 # past two ttls: only renewals keep them
leased "$a" && leased "$b" || fail "after 2.5 s of a 1 s ttl, one of the two leases had ended"
gate_open
bounded_wait 20 "$holder"
((RC == 0)) || fail "the holder of two leases exited $RC"
"$SQLLOCK" run -n --ttl 1s "$a" "$b" -- true || fail "the leases were not freed"
ok "both leases of one run are kept alive past their ttl and freed after"
