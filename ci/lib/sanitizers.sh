# SPDX-License-Identifier: MIT
# Sourceable: the suite once under ThreadSanitizer and once under valgrind
# memcheck. ci/test calls these with its server running (SQLLOCK_TEST_*
# exported), from anywhere; each builds in a directory of its own and
# fails (non-zero) on any report. Bounded: every test has a timeout, and
# the subsets are picked to fit in under four minutes on two cores.
#
#   source ci/lib/sanitizers.sh
#   tsan_run       # build/tsan: clang -fsanitize=thread, the threaded tests
#   memcheck_run   # build/memcheck: gcc -O1 -g, one backend-covering subset
# shellcheck shell=bash

SAN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# What runs threads: sqllock_cancel from another thread (the suite's cancel
# cases, per transport and backend), the ODBC cancel watcher thread,
# release-while-waiting races, and the CLI, whose `run` keeps a checker
# thread and whose -v a wait-report thread.
TSAN_TESTS='^(pg-unix|odbc-pg|odbc-mssql|odbc-mssql-tds|lease-pg-suite|lease-odbc-sqlite-suite)::(forever_handoff|cancel_from_thread|cancel_from_signal|cancel_before_wait|deadlock)$'
# (odbc::watcher_gone stays out: it counts the process's threads, and TSan
# adds a thread of its own at the first pthread_create.)
TSAN_TESTS+='|^lease-(pg|odbc-pg)::(timeout_and_cancel|wakeup)$'
TSAN_TESTS+='|^pg::(failed_wait_keeps_transaction|caller_timeouts_do_not_cut|timeout_race_no_orphan)$'
TSAN_TESTS+='|^cli::(mutex|timeout|verbose|lost|signals|odbc)$'

# Every backend and transport once: libpq (unix socket and TCP), psqlODBC
# for pg-advisory and mssql-applock, mssql-applock through FreeTDS (the TDS
# emulator at TDS 7.4, and the adapter's own cases under every switch),
# leases over libpq and over SQLite ODBC, run-once, attach. The CLI's tests are bash scripts (valgrind would watch
# bash, not the command) and stay out, as do the fault scripts. So do the
# cases whose forked children _exit() holding the parent's clients: valgrind
# checks each child for leaks and fails it (mutual_exclusion, race_expired).
MEMCHECK_TESTS='^(unit|core|pg-unix|odbc-pg|odbc-mssql|odbc-mssql-tds|lease-pg|lease-odbc-sqlite|once-pg|pg)::'
MEMCHECK_TESTS+='|^odbc-mssql-tds-(nocount|errors)::(round_trips|release_not_held_is_lost|unreadable_grant_released)$'
MEMCHECK_TESTS+='|^pg-tcp::(try_busy_then_free|forever_handoff|terminated_backend)$|^cli::duration$'
MEMCHECK_SKIP='::(mutual_exclusion|race_expired)$'

_san_configure() { # DIR COMPILER CFLAGS LDFLAGS
  cmake -S "$SAN_REPO" -B "$1" -DCMAKE_C_COMPILER="$2" -DCMAKE_BUILD_TYPE=Debug \
    -DSQLLOCK_WERROR=ON -DBUILD_TESTING=ON -DCMAKE_C_FLAGS="$3" \
    -DCMAKE_EXE_LINKER_FLAGS="$4" -DCMAKE_SHARED_LINKER_FLAGS="$4" >/dev/null
}

# The targets the chosen tests run (ctest lists every test regardless).
_san_build() { # DIR TARGET...
  local dir=$1
  shift
  cmake --build "$dir" -j2 --target "$@"
}

tsan_run() {
  local dir=$SAN_REPO/build/tsan start=$SECONDS run=()
  _san_configure "$dir" clang "-fsanitize=thread -O1 -fno-omit-frame-pointer" "-fsanitize=thread"
  _san_build "$dir" sqllock_cli test_locks test_lease test_odbc test_pg_attach test_pg_session
  # clang 14's TSan maps its shadow at fixed addresses; with more ASLR
  # entropy than it expects (vm.mmap_rnd_bits > 28) it dies at start with
  # "unexpected memory mapping": run it without ASLR then.
  if ! "$dir/tests/test_locks" --list >/dev/null 2>&1; then
    echo "tsan_run: TSan cannot start here with ASLR; running under setarch -R"
    run=(setarch "$(uname -m)" -R)
  fi
  echo "tsan_run: built in $((SECONDS - start))s"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    "${run[@]}" ctest --test-dir "$dir" -R "$TSAN_TESTS" --output-on-failure --no-tests=error \
    -j2 --timeout 90 || return
  echo "tsan_run: clean, $((SECONDS - start))s in all"
}

memcheck_run() {
  local dir=$SAN_REPO/build/memcheck start=$SECONDS logs rc=0
  _san_configure "$dir" gcc "-O1 -g" ""
  _san_build "$dir" test_unit test_core test_locks test_lease test_lease_pg test_once test_odbc_txn \
    test_tds_adapter \
    test_pg_session test_pg_attach test_pg_connect test_cli_duration
  echo "memcheck_run: built in $((SECONDS - start))s"
  rm -rf "$dir/Testing/Temporary"
  # ctest -T memcheck prefixes each test's command with valgrind (and adds
  # its own --log-file); --error-exitcode makes a report fail the test.
  ctest --test-dir "$dir" -T memcheck -R "$MEMCHECK_TESTS" -E "$MEMCHECK_SKIP" --output-on-failure \
    --no-tests=error -j2 --timeout 120 \
    --overwrite MemoryCheckCommand="$(command -v valgrind)" \
    --overwrite "MemoryCheckCommandOptions=--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 --trace-children=no" \
    --overwrite MemoryCheckSuppressionFile="$SAN_REPO/tests/faults/valgrind.supp" || rc=$?
  # A report in a test that passed anyway (a child's, say) still counts.
  logs=$(grep -l 'ERROR SUMMARY: [1-9]' "$dir"/Testing/Temporary/MemoryChecker.*.log | tr '\n' ' ' || true)
  if [[ -n "$logs" ]]; then
    echo "memcheck_run: valgrind reported errors in: $logs" >&2
    rc=1
  fi
  ((rc == 0)) || return "$rc"
  echo "memcheck_run: clean, $((SECONDS - start))s in all"
}
