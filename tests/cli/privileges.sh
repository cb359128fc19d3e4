#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves how `sqllock run --ttl`, `sqllock once` and `sqllock init` fare
# with a least-privilege role (no CREATE anywhere, as PostgreSQL 15's public
# schema gives): after the tables' owner ran `sqllock init` and granted
# SELECT, INSERT, UPDATE, DELETE, both exit 0; without the grants, or with
# default_transaction_read_only, they exit 77 (EX_NOPERM, never 69
# "unreachable") with one line naming the permission or read-only problem,
# and PROGRAM does not run (once: not even to find it cannot be recorded).
# `init` by a role without CREATE: 77.
source "$(dirname "$0")/lib.sh" "$@"
need_server SQLLOCK_TEST_URL SQLLOCK_TEST_ADMIN_URL

admin() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$SQLLOCK_TEST_ADMIN_URL" -c "SET client_min_messages = warning; $1"; }
id=${UNIQ//-/_}
owner=${id}_owner app=${id}_app bare=${id}_bare ro=${id}_ro schema=${id}_s
on_exit "admin 'DROP SCHEMA IF EXISTS $schema CASCADE; DROP ROLE IF EXISTS $owner, $app, $bare, $ro'"
admin "CREATE ROLE $owner LOGIN; CREATE ROLE $app LOGIN; CREATE ROLE $bare LOGIN;
       CREATE ROLE $ro LOGIN; CREATE SCHEMA $schema AUTHORIZATION $owner;
       GRANT USAGE ON SCHEMA $schema TO $app, $bare, $ro;
       ALTER ROLE $owner SET search_path = $schema; ALTER ROLE $app SET search_path = $schema;
       ALTER ROLE $bare SET search_path = $schema; ALTER ROLE $ro SET search_path = $schema;
       ALTER ROLE $ro SET default_transaction_read_only = on"
as() { echo "$SQLLOCK_TEST_URL user=$1"; }

# expect CODE WORD ROLE ARGS...: sqllock ARGS as ROLE exits CODE; with CODE
# 77, its one line of stderr says WORD.
expect() {
  local want=$1 word=$2 role=$3 rc=0
  shift 3
  SQLLOCK_URL=$(as "$role") "$SQLLOCK" "$@" 2>"$TMP/err" || rc=$?
  ((rc == want)) || fail "$* as $role: exit $rc, expected $want: $(cat "$TMP/err")"
  if ((want == 77)); then
    [[ "$(wc -l <"$TMP/err")" -eq 1 ]] || fail "$* as $role: not one line: $(cat "$TMP/err")"
    grep -q "$word" "$TMP/err" || fail "$* as $role: does not say $word: $(cat "$TMP/err")"
  fi
}

ran=$TMP/ran
expect 77 permission "$app" init
ok "init by a role without CREATE: 77, says permission"
expect 0 - "$owner" init
admin "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA $schema TO $app, $ro"

expect 0 - "$app" run --ttl 10s "$UNIQ-lease" -- sh -c 'echo run >>"$1"' sh "$ran"
expect 0 - "$app" once "$UNIQ-job" -- sh -c 'echo once >>"$1"' sh "$ran"
[[ "$(cat "$ran")" == $'run\nonce' ]] || fail "PROGRAM did not run as expected: $(cat "$ran")"
ok "after init + grants, run --ttl and once as the application's role: exit 0"

expect 77 permission "$bare" run --ttl 10s "$UNIQ-lease" -- sh -c 'echo bad >>"$1"' sh "$ran"
expect 77 permission "$bare" once "$UNIQ-job2" -- sh -c 'echo bad >>"$1"' sh "$ran"
ok "without grants: 77, says permission"

expect 77 read-only "$ro" run --ttl 10s "$UNIQ-lease" -- sh -c 'echo bad >>"$1"' sh "$ran"
expect 77 read-only "$ro" once "$UNIQ-job2" -- sh -c 'echo bad >>"$1"' sh "$ran"
expect 0 - "$ro" once "$UNIQ-job" -- sh -c 'echo bad >>"$1"' sh "$ran"
ok "default_transaction_read_only: 77, says read-only; a job done is still skipped (0)"
! grep -q bad "$ran" || fail "PROGRAM ran although the lease or marker was refused"
