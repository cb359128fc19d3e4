#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that every bad invocation gives its exit status and one clear line
# on stderr, never a password: unknown commands and options, a missing --,
# bad durations and exit codes, a NAME given twice, no database (64); a
# malformed URL (64); a wrong password, a refused port and an unreachable
# host with a bounded connect timeout (69). Also --help, help COMMAND and --version, and that
# every option the help texts name is in the man page.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_TCP_URL SQLLOCK_TEST_WRONGPW_URL
src=$(cd "$(dirname "$0")/../.." && pwd)
PW=s3cret-Pa55

no_password() { [[ "$ERR" != *"$PW"* && "$ERR" != *wrong-password* ]] || fail "password in: $ERR"; }

# ---- 64: usage ---------------------------------------------------------------
usage_cases=(
  "" "bogus" "--bogus run x -- true" "--url"
  "run" "run x true" "run x --" "run x -- "
  "run x --bogus -- true" "run x -q -- true" "run x -w -- true" "run x '' -- true"
  "run x y x -- true" "run x y --key 1 -- true"
  "run x -n -w 1s -- true" "run '' -- true"
  "run x -E 256 -- true" "run x -E -1 -- true" "run x -E abc -- true"
  "run x --check-every 0 -- true" "run x --grace 1.5s -- true" "run x --ttl 0 -- true"
  "run x -w 25d -- true"
  "status" "status a b" "status --bogus x" "list extra" "key" "key a b" "key ''" "help bogus"
)
for c in "${usage_cases[@]}"; do
  eval "args=($c)"
  expect_fail 64 "$SQLLOCK" "${args[@]}"
done
ok "${#usage_cases[@]} usage errors: exit 64, one line"

for d in "" "-1" "+1" "1.5" "1e3" "10x" "5 s" "s" "ms" "1sec" "1S" "0x10" "1h1m" \
         "99999999999999999999" "9223372036854775807h" "9223372036854775808" "2562047788015216h"; do
  expect_fail 64 "$SQLLOCK" run x -w "$d" -- true
  [[ "$ERR" == *"bad DURATION '$d' for --wait"* || "$ERR" == *"out of range"* ]] || fail "-w '$d': $ERR"
done
expect_fail 64 "$SQLLOCK" run x -w 2147484s -- true
[[ "$ERR" == *"out of range"* ]] || fail "$ERR"
ok "malformed and overlong durations are refused with one line each"

for cmd in "run x -- true" "status x" "list"; do
  eval "args=($cmd)"
  expect_fail 64 env -u SQLLOCK_URL -u DATABASE_URL "$SQLLOCK" "${args[@]}"
  [[ "$ERR" == *"no database: give --url or set SQLLOCK_URL or DATABASE_URL"* ]] || fail "$ERR"
done
env -u SQLLOCK_URL DATABASE_URL="$SQLLOCK_TEST_URL" "$SQLLOCK" run -n "$UNIQ" -- true ||
  fail "DATABASE_URL is not used"
SQLLOCK_URL= DATABASE_URL="$SQLLOCK_TEST_URL" "$SQLLOCK" run -n "$UNIQ" -- true ||
  fail "an empty SQLLOCK_URL is not skipped"
ok "no database: exit 64; DATABASE_URL is the fallback"

expect_fail 64 "$SQLLOCK" run -s --ttl 10s "$UNIQ" -- true
[[ "$ERR" == *"ttl_ms"*"shared mode is not supported on leases"* ]] || fail "-s --ttl: $ERR"
ok "-s --ttl says leases have no shared mode: exit 64"

# Malformed URLs that libpq echoes back, password included.
for url in "postgresql://u:$PW@[::1/db" "postgresql://u:$PW@host:5432/db?bogus_option=1" \
           "host=localhost password=$PW 'unterminated" "host=localhost password $PW"; do
  for cmd in "run x -- true" "status x" "list"; do
    eval "args=($cmd)"
    expect_fail 64 "$SQLLOCK" --url "$url" "${args[@]}"
    no_password
  done
done
ok "malformed URLs: exit 64, one line, no password ($ERR)"

# ---- 69: unreachable ---------------------------------------------------------
# A host that accepts the TCP connection and then never answers, so that
# only the connect timeout can end the attempt.
perl -MIO::Socket::INET -e '$| = 1; my $s = IO::Socket::INET->new(Listen => 5,
  LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport, "\n"; sleep 60' \
  >"$TMP/blackhole" &
wait_until 10 test -s "$TMP/blackhole"
port=$(cat "$TMP/blackhole")
for cmd in "run x -- true" "status x" "list"; do
  eval "args=($cmd)"
  expect_fail 69 "$SQLLOCK" --url "$SQLLOCK_TEST_WRONGPW_URL" "${args[@]}"
  no_password
  [[ "$ERR" == *"password authentication failed"* ]] || fail "wrong password: $ERR"
  expect_fail 69 "$SQLLOCK" --url "postgresql://u:$PW@127.0.0.1:1/db" "${args[@]}"
  no_password
done
# The timeout, from the URL and from the environment (libpq's minimum is 2s).
t0=$(now_ms)
for cmd in "run x -- true" "status x" "list"; do
  eval "args=($cmd)"
  case $cmd in
    run*) url="postgresql://u:$PW@127.0.0.1:$port/db?connect_timeout=2" env=() ;;
    status*) url="host=127.0.0.1 port=$port password=$PW connect_timeout=2" env=() ;;
    list) url="postgresql://u:$PW@127.0.0.1:$port/db" env=(PGCONNECT_TIMEOUT=2) ;;
  esac
  t0=$(now_ms)
  expect_fail 69 env "${env[@]}" timeout 20 "$SQLLOCK" --url "$url" "${args[@]}"
  no_password
  ms=$(($(now_ms) - t0))
  # libpq 15 counts connect_timeout in whole seconds of time(NULL): 2 s end
  # anywhere after just over 1 s, depending on where in a second it started.
  ((ms >= 900 && ms < 5000)) || fail "$cmd: a 2s connect timeout took ${ms}ms: $ERR"
  [[ "$ERR" == *"timeout expired"* ]] || fail "not a timeout: $ERR"
done
ok "wrong password, refused port, unreachable host: exit 69 in bounded time, no password ($ERR)"

# ---- help, version, and the man page -----------------------------------------
for args in "--help" "-h" "help" "help run" "run --help" "status --help" "list --help" \
            "key --help" "help key" "--url x --help"; do
  out=$("$SQLLOCK" $args 2>"$TMP/err") || fail "'$args': exit $?"
  [[ "$out" == usage:* && ! -s "$TMP/err" ]] || fail "'$args' does not print usage on stdout"
done
version=$(sed -n 's/^#define SQLLOCK_VERSION "\(.*\)"$/\1/p' "$src/include/sqllock.h")
out=$("$SQLLOCK" --version)
[[ "$out" == "sqllock $version"$'\n'"libsqllock $version, libpq "* ]] || fail "--version: $out"
ok "--help, help COMMAND, COMMAND --help, --version ($version)"

man=$(sed 's/\\-/-/g' "$src/doc/sqllock.1")
helps=$(for c in "" run status list key once init; do "$SQLLOCK" $c --help; done)
for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$helps" | sort -u); do
  grep -qF -- "$opt" <<<"$man" || fail "the man page lacks $opt"
done
for code in 64 69 70 75 126 127; do
  grep -q "$code" <<<"$("$SQLLOCK" run --help)" || fail "run --help lacks exit status $code"
  grep -Eq "^([0-9]+, )?$code" <<<"$man" || fail "the man page lacks exit status $code"
done
ok "every option in the help texts, and every exit status, is in the man page"
