# SPDX-License-Identifier: MIT
# Sourceable: the SQL Server side of the tests, which is an EMULATION of
# SQL Server's lock manager (tests/mssql/tds_emulator.py, a TDS server)
# reached through a real SQL Server ODBC driver, Debian's FreeTDS.
#
#   source ci/lib/mssql.sh
#   mssql_install_deps  # apt-get install tdsodbc freetds-bin python3 if missing,
#                       # and nodejs + npm (for tedious) when there is no npm
#   mssql_start         # starts the emulator on a free private port; exports
#                       # SQLLOCK_TEST_MSSQL_URL (odbc:Driver=FreeTDS;...)
#   mssql_stop          # stops it; nothing listens on the port afterwards
#   mssql_tedious DIR   # npm installs tedious into DIR and runs
#                       # tests/mssql/tedious_client.js against the emulator
#
# Works on its own from the checkout root (no PostgreSQL, no build). Sets no
# trap: the caller stops it (ci/test and ci/bench trap mssql_and_pg_stop).
# shellcheck shell=bash

MSSQL_DEPS=(tdsodbc freetds-bin python3)
MSSQL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Debian's python, not whatever python3 is first on PATH: stdlib only.
MSSQL_PYTHON=/usr/bin/python3

mssql_install_deps() {
  local pkg missing=()
  for pkg in "${MSSQL_DEPS[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] \
      || missing+=("$pkg")
  done
  command -v npm >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]} == 0)); then
    echo "mssql_install_deps: all packages already installed"
    return 0
  fi
  echo "mssql_install_deps: missing: ${missing[*]}; installing"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

_mssql_listening() { [[ -n "$(ss -Hltn "sport = :$1")" ]]; }

# Whether pid is the emulator this file started on port (PIDs get reused).
_mssql_ours() {
  [[ "$1" =~ ^[0-9]+$ ]] &&
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "tds_emulator.py --port $2 "
}

# tedious, Microsoft's TDS client for Node, as a second client of the
# emulator: npm installs it into DIR (under build/, never committed).
MSSQL_TEDIOUS=tedious@18.6.2
mssql_tedious() { # DIR
  npm install --no-audit --no-fund --silent --prefix "$1" "$MSSQL_TEDIOUS" &&
    NODE_PATH=$1/node_modules node "$MSSQL_REPO/tests/mssql/tedious_client.js" 127.0.0.1 \
      "$MSSQL_EMU_PORT" sqllock_test 's3cret-Pa55' 'sqllock_tedious~attn=split'
}

mssql_start() {
  local attempt port pid _
  # Debian's tdsodbc registers [FreeTDS] in odbcinst.ini itself.
  if ! odbcinst -q -d -n FreeTDS >/dev/null 2>&1 || [[ ! -x $MSSQL_PYTHON ]]; then
    mssql_install_deps
  fi
  MSSQL_EMU_DIR=$(mktemp -d /tmp/sqllock-mssql.XXXXXX)
  export MSSQL_EMU_DIR
  # A port free now may be taken before the emulator binds: retried.
  for attempt in 1 2 3 4 5; do
    port=$(shuf -i 20000-45000 -n 1)
    _mssql_listening "$port" && continue
    rm -f "$MSSQL_EMU_DIR/ready"
    "$MSSQL_PYTHON" -B "$MSSQL_REPO/tests/mssql/tds_emulator.py" --port "$port" \
      --user sqllock_test --password 's3cret-Pa55' --ready-file "$MSSQL_EMU_DIR/ready" \
      >"$MSSQL_EMU_DIR/emulator.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      [[ -s "$MSSQL_EMU_DIR/ready" ]] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -s "$MSSQL_EMU_DIR/ready" ]]; then
      MSSQL_EMU_PID=$pid MSSQL_EMU_PORT=$port
      export MSSQL_EMU_PID MSSQL_EMU_PORT
      # No Database= or TDS_Version=: tests add them (switches, versions).
      # The password is braced, as the ODBC connection strings of the other
      # backends' tests are.
      export SQLLOCK_TEST_MSSQL_URL="odbc:Driver=FreeTDS;Server=127.0.0.1;Port=$port;UID=sqllock_test;PWD={s3cret-Pa55}"
      echo "mssql_start: SQL Server EMULATION (tests/mssql/tds_emulator.py) on 127.0.0.1:$port, through FreeTDS $(dpkg-query -W -f='${Version}' tdsodbc 2>/dev/null)"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ((attempt == 5)) || ! grep -q 'Address already in use' "$MSSQL_EMU_DIR/emulator.log"; then
      echo "mssql_start: the emulator did not start:" >&2
      cat "$MSSQL_EMU_DIR/emulator.log" >&2
      rm -rf "$MSSQL_EMU_DIR"
      unset MSSQL_EMU_DIR
      return 1
    fi
  done
  return 1
}

# Safe to call twice and from an EXIT trap: never fails, keeps the status.
mssql_stop() {
  local _
  [[ -n "${MSSQL_EMU_DIR:-}" ]] || return 0
  if [[ -n "${MSSQL_EMU_PID:-}" ]] && _mssql_ours "$MSSQL_EMU_PID" "$MSSQL_EMU_PORT"; then
    kill "$MSSQL_EMU_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$MSSQL_EMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MSSQL_EMU_PID" 2>/dev/null || true
    wait "$MSSQL_EMU_PID" 2>/dev/null || true
  fi
  if [[ -n "${MSSQL_EMU_PORT:-}" ]] && _mssql_listening "$MSSQL_EMU_PORT"; then
    echo "mssql_stop: something still listens on port $MSSQL_EMU_PORT" >&2
  fi
  rm -rf "$MSSQL_EMU_DIR" || true
  unset MSSQL_EMU_DIR MSSQL_EMU_PID MSSQL_EMU_PORT SQLLOCK_TEST_MSSQL_URL
  return 0
}

# For an EXIT trap beside ci/lib/pg.sh's: stops the emulator, then
# PostgreSQL, handing pg_stop the script's status (on which it prints the
# server's log).
mssql_and_pg_stop() {
  local rc=$?
  mssql_stop
  if ((rc)); then (exit "$rc") || pg_stop; else true; pg_stop; fi
}
