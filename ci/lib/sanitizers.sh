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

# Which tests run here is chosen where they are registered
# (tests/CMakeLists.txt, tests/cli/CMakeLists.txt): the labels tsan and
# memcheck, and <build>/tests/<label>.targets, the targets those tests run.
# A renamed or removed case fails the configure step instead of silently
# leaving the subset. In short, ThreadSanitizer takes what runs threads
# (sqllock_cancel from another thread, the ODBC cancel watcher,
# release-while-waiting races, the CLI's checker and report threads);
# valgrind takes every backend and transport once (libpq over a socket and
# TCP, psqlODBC, FreeTDS, SQLite, leases, run-once, attach), without the
# bash-driven CLI tests and the cases whose forked children _exit()
# holding the parent's clients. (odbc::watcher_gone stays out of TSan: it
# counts the process's threads, and TSan adds one of its own.)
SAN_TSAN=(-L '^tsan$')
SAN_MEMCHECK=(-L '^memcheck$')

_san_configure() { # DIR COMPILER CFLAGS LDFLAGS
  cmake -S "$SAN_REPO" -B "$1" -DCMAKE_C_COMPILER="$2" -DCMAKE_BUILD_TYPE=Debug \
    -DSQLLOCK_WERROR=ON -DBUILD_TESTING=ON -DCMAKE_C_FLAGS="$3" \
    -DCMAKE_EXE_LINKER_FLAGS="$4" -DCMAKE_SHARED_LINKER_FLAGS="$4" >/dev/null
}

# The targets the tests labelled LABEL run (ctest lists every test regardless).
_san_build() { # DIR LABEL
  local targets
  mapfile -t targets < <(grep -v '^$' "$1/tests/$2.targets")
  ((${#targets[@]})) || { echo "_san_build: no targets for label $2" >&2; return 1; }
  cmake --build "$1" -j2 --target "${targets[@]}"
}

tsan_run() {
  local dir=$SAN_REPO/build/tsan start=$SECONDS run=()
  _san_configure "$dir" clang "-fsanitize=thread -O1 -fno-omit-frame-pointer" "-fsanitize=thread"
  _san_build "$dir" tsan
  # clang 14's TSan maps its shadow at fixed addresses; with more ASLR
  # entropy than it expects (vm.mmap_rnd_bits > 28) it dies at start with
  # "unexpected memory mapping": run it without ASLR then.
  if ! "$dir/tests/test_locks" --list >/dev/null 2>&1; then
    echo "tsan_run: TSan cannot start here with ASLR; running under setarch -R"
    run=(setarch "$(uname -m)" -R)
  fi
  echo "tsan_run: built in $((SECONDS - start))s"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    "${run[@]}" ctest --test-dir "$dir" "${SAN_TSAN[@]}" --output-on-failure --no-tests=error \
    -j2 --timeout 90 || return
  echo "tsan_run: clean, $((SECONDS - start))s in all"
}

memcheck_run() {
  local dir=$SAN_REPO/build/memcheck start=$SECONDS logs rc=0
  _san_configure "$dir" gcc "-O1 -g" ""
  _san_build "$dir" memcheck
  echo "memcheck_run: built in $((SECONDS - start))s"
  rm -rf "$dir/Testing/Temporary"
  # ctest -T memcheck prefixes each test's command with valgrind (and adds
  # its own --log-file); --error-exitcode makes a report fail the test.
  ctest --test-dir "$dir" -T memcheck "${SAN_MEMCHECK[@]}" --output-on-failure \
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
