/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the SQL text of the pg-advisory backend, shared
 * by its libpq transport ($1 placeholders) and its ODBC one (? markers).
 * Each statement is a macro over its placeholders, so the two transports
 * send the same statements and a change reaches both. A placeholder used
 * twice is passed twice: "$3" twice over libpq, "?" twice (bound twice)
 * over ODBC, where markers are bound in the order they appear in the text,
 * which each macro's comment gives. Every function is schema-qualified: the caller's search_path
 * must not be able to put another pg_advisory_lock in front of ours.
 */
#ifndef SQLLOCK_PG_SQL_H
#define SQLLOCK_PG_SQL_H

/* fn is one of the pg_[try_]advisory[_xact]_lock[_shared] or unlock functions. */
#define PG_SQL_KEYFN(fn, k) "SELECT pg_catalog." fn "(" k "::pg_catalog.int8)"
/* The same function in the int4-pair space: another lock than any int8 key. */
#define PG_SQL_INT4X2(a, b) a "::pg_catalog.int4, " b "::pg_catalog.int4"
#define PG_SQL_PAIRFN(fn, a, b) "SELECT pg_catalog." fn "(" PG_SQL_INT4X2(a, b) ")"
/* The pair space's statements, in the order of the int8 ones both
   transports index by (2 * scope + mode): try, lock, then unlock (+ mode). */
#define PG_SQL_PAIR_LOCKFNS(a, b)                                                               \
    PG_SQL_PAIRFN("pg_try_advisory_lock", a, b),                                                \
        PG_SQL_PAIRFN("pg_try_advisory_lock_shared", a, b),                                     \
        PG_SQL_PAIRFN("pg_try_advisory_xact_lock", a, b),                                       \
        PG_SQL_PAIRFN("pg_try_advisory_xact_lock_shared", a, b),                                \
        PG_SQL_PAIRFN("pg_advisory_lock", a, b),                                                \
        PG_SQL_PAIRFN("pg_advisory_lock_shared", a, b),                                         \
        PG_SQL_PAIRFN("pg_advisory_xact_lock", a, b),                                           \
        PG_SQL_PAIRFN("pg_advisory_xact_lock_shared", a, b),                                    \
        PG_SQL_PAIRFN("pg_advisory_unlock", a, b),                                              \
        PG_SQL_PAIRFN("pg_advisory_unlock_shared", a, b)

/*
 * Tries every int8 key of the array keys with try_fn and, unless all were
 * got, unlocks with unlock_fn the ones that were, in the same statement:
 * true with all held, false with none. The CASE leaves the unlocking
 * subquery (an initplan, run when first needed) unrun when all were got.
 */
#define PG_SQL_TRY_ALL(try_fn, unlock_fn, keys)                                                 \
    "WITH t AS MATERIALIZED (SELECT k, pg_catalog." try_fn "(k) AS got"                         \
    " FROM pg_catalog.unnest(" keys "::pg_catalog.int8[]) AS u(k)),"                            \
    " a AS MATERIALIZED (SELECT pg_catalog.bool_and(got) AS all_got FROM t)"                    \
    " SELECT CASE WHEN a.all_got THEN true"                                                     \
    " ELSE (SELECT pg_catalog.count(pg_catalog." unlock_fn "(t.k)) FROM t WHERE t.got) < 0"     \
    " END FROM a"

/* The session's own granted advisory lock on (classid, objid) in key space
   sub: objsubid "1" for int8 keys, "2" for int4 pairs. */
#define PG_SQL_HELD_WHERE_IN(sub, cls, obj)                                                     \
    " FROM pg_catalog.pg_locks WHERE locktype = 'advisory'"                                     \
    " AND pid = pg_catalog.pg_backend_pid() AND objsubid = " sub " AND granted"                 \
    " AND database = (SELECT oid FROM pg_catalog.pg_database"                                   \
    "                 WHERE datname = pg_catalog.current_database())"                           \
    " AND classid = " cls "::pg_catalog.oid AND objid = " obj "::pg_catalog.oid"
#define PG_SQL_HELD_WHERE(cls, obj) PG_SQL_HELD_WHERE_IN("1", cls, obj)

/* Bounds the wait of this transaction and lifts statement_timeout. */
#define PG_SQL_SET(lt)                                                                          \
    "SELECT pg_catalog.set_config('lock_timeout', " lt ", true),"                               \
    " pg_catalog.set_config('statement_timeout', '0', true)"
/* The same, returning the settings it replaces. */
#define PG_SQL_CAPTURE(lt)                                                                      \
    "SELECT pg_catalog.current_setting('lock_timeout'),"                                        \
    " pg_catalog.current_setting('statement_timeout'),"                                         \
    " pg_catalog.set_config('lock_timeout', " lt ", true),"                                     \
    " pg_catalog.set_config('statement_timeout', '0', true)"
#define PG_SQL_RESTORE(lt, st)                                                                  \
    "SELECT pg_catalog.set_config('lock_timeout', " lt ", true),"                               \
    " pg_catalog.set_config('statement_timeout', " st ", true)"

#define PG_SQL_SAVEPOINT "SAVEPOINT sqllock_wait"
#define PG_SQL_ROLLBACK_TO "ROLLBACK TO SAVEPOINT sqllock_wait"
#define PG_SQL_RELEASE_SP "RELEASE SAVEPOINT sqllock_wait"

/* Whether the session holds (cls, obj) in space sub, in mode m unless m is
   NULL. Text order: cls, obj, m, m2. */
#define PG_SQL_HELD_IN(sub, cls, obj, m, m2)                                                    \
    "SELECT EXISTS (SELECT 1" PG_SQL_HELD_WHERE_IN(                                             \
        sub, cls, obj) " AND (" m "::pg_catalog.text IS NULL OR mode = " m2 "))"
#define PG_SQL_HELD(cls, obj, m, m2) PG_SQL_HELD_IN("1", cls, obj, m, m2)
#define PG_SQL_HELD_PAIR(cls, obj, m, m2) PG_SQL_HELD_IN("2", cls, obj, m, m2)

/* Unlocks the key (the unlock functions' arguments: args, args2) if the
   session holds it as (cls, obj) in space sub and mode m. */
#define PG_SQL_CLEANUP_IN(sub, cls, obj, m, m2, args, args2)                                    \
    "SELECT CASE WHEN " m " = 'ShareLock'"                                                      \
    " THEN pg_catalog.pg_advisory_unlock_shared(" args ")"                                      \
    " ELSE pg_catalog.pg_advisory_unlock(" args2                                                \
    ") END" PG_SQL_HELD_WHERE_IN(sub, cls, obj) " AND mode = " m2
/* Text order: m, k, k2, cls, obj, m2. */
#define PG_SQL_CLEANUP(cls, obj, m, m2, k, k2)                                                  \
    PG_SQL_CLEANUP_IN("1", cls, obj, m, m2, k "::pg_catalog.int8", k2 "::pg_catalog.int8")
/* Text order: m, a, b, a2, b2, cls, obj, m2. */
#define PG_SQL_CLEANUP_PAIR(cls, obj, m, m2, a, b, a2, b2)                                      \
    PG_SQL_CLEANUP_IN("2", cls, obj, m, m2, PG_SQL_INT4X2(a, b), PG_SQL_INT4X2(a2, b2))

/* Every advisory lock the session holds: the 64 bits of (classid, objid)
   and the key space (objsubid: 1 int8, 2 int4 pair). */
#define PG_SQL_SNAPSHOT                                                                         \
    "SELECT (classid::pg_catalog.int8 << 32) | objid::pg_catalog.int8, objsubid"                \
    " FROM pg_catalog.pg_locks WHERE locktype = 'advisory'"                                     \
    " AND pid = pg_catalog.pg_backend_pid() AND objsubid IN (1, 2) AND granted"                 \
    " AND database = (SELECT oid FROM pg_catalog.pg_database"                                   \
    " WHERE datname = pg_catalog.current_database())"

/* The backend's pid (a pooler in between reports another to the client)
   and whether the server is a standby. */
#define PG_SQL_IDENTIFY "SELECT pg_catalog.pg_backend_pid(), pg_catalog.pg_is_in_recovery()"
#define PG_SQL_IN_RECOVERY "SELECT pg_catalog.pg_is_in_recovery()"

/*
 * client_connection_check_interval for our own sessions (PostgreSQL 14 and
 * later; the caller's choice wins). A waiting backend does not read its
 * socket, so without it a waiter killed by SIGKILL stays in the lock queue
 * (and keeps a connection slot) for as long as the holder holds. With it the
 * backend looks every 2 s: a killed waiter leaves within about 2 s (measured
 * by tests/hostile/sigkill.sh), for one poll() per 2 s per running
 * statement. A killed holder is idle, reading its socket: it leaves at once
 * either way. Never set on an attached connection: its settings are the
 * caller's.
 */
#define PG_SQL_CHECK_INTERVAL_MS "2000"

/*
 * What our own sessions set, over both transports, as rows of a VALUES list
 * (name, setting) for pg_settings to filter: applied unless the caller
 * chose the setting (source 'client': the URL's options, PGOPTIONS or
 * pqopt; 'session': a SET such as psqlODBC's ConnSettings). A DBA's role-
 * or database-level timeouts are meant for application sessions, and
 * break a session whose job is to hold a lock: idle_session_timeout and
 * idle_in_transaction_session_timeout end an idle holder, whose locks
 * vanish without a word; statement_timeout and lock_timeout cut a lease
 * statement that waits behind another's row lock short, as if the wait had
 * timed out. Waits are bounded by wait_ms instead (the advisory statements
 * set both timeouts per transaction). The server's keepalives are looser
 * than the client's (pq_conn.c), so that across a silent partition the
 * client reports LOST before the server frees the lock. pg_settings drops
 * what the server's version does not have.
 */
#define PG_SQL_OWN_SETTINGS                                                                     \
    "('tcp_keepalives_idle', '30'), ('tcp_keepalives_interval', '10'),"                         \
    " ('tcp_keepalives_count', '3'), ('tcp_user_timeout', '60000'),"                            \
    " ('statement_timeout', '0'), ('lock_timeout', '0'),"                                       \
    " ('idle_session_timeout', '0'), ('idle_in_transaction_session_timeout', '0'),"             \
    " ('client_connection_check_interval', '" PG_SQL_CHECK_INTERVAL_MS "')"
/* s (a pg_settings row) was not chosen by the caller. */
#define PG_SQL_NOT_CALLERS(s) s ".source NOT IN ('client', 'session')"

/* Why a server in recovery is refused, for both transports. */
#define PG_STANDBY_REFUSED                                                                      \
    "the server is in recovery (a hot standby): advisory locks taken there "                    \
    "are not seen by the primary; connect to the primary "                                      \
    "(target_session_attrs=read-write)"

#endif /* SQLLOCK_PG_SQL_H */
