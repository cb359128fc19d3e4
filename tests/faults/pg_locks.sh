# SPDX-License-Identifier: MIT
# Sourced by fault tests after lib.sh, never run: where pg_locks shows a
# lock name's advisory lock, and a lease's queue.
#
#   pg_lock_of NAME     SQL condition on pg_locks l: NAME's session advisory
#                       lock (its int8 key: hashtextextended(NAME, 0))
#   lease_queued NAME PID   the client process PID waits in the queue of
#                       lease NAME, at its head
# shellcheck shell=bash

# An int8 key shows in pg_locks as classid (high half), objid (low half),
# objsubid 1.
_pg_lock_of_key() {
  echo "l.locktype = 'advisory' AND l.objsubid = 1
        AND l.classid = ((($1) >> 32) & 4294967295)::oid AND l.objid = (($1) & 4294967295)::oid"
}
pg_lock_of() { _pg_lock_of_key "hashtextextended('$1', 0)"; }

# A lease's waiters queue on a session advisory lock of their own: the
# name's key xor 0x9e3779b97f4a7c15 (src/lease_sql.h), granted in arrival
# order. Its head holds it and sleeps idle on its socket until the row is
# released or expires. Sessions are named sqllock[<pid>]@<host>.
lease_queued() {
  [[ $(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE $(_pg_lock_of_key "hashtextextended('$1', 0) # (-7046029254386353131)::int8")
              AND l.granted AND a.application_name LIKE 'sqllock[$2]@%'
              AND a.state = 'idle'") == 1 ]]
}
