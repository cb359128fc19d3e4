/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the SQL of the lease backend, per dialect.
 *
 * PostgreSQL's statements are shared by the libpq transport ($n
 * placeholders) and the ODBC one (? markers bound in the order they appear):
 * each is a macro over its placeholders, whose text order its comment gives.
 * Names travel as hex text and become bytea on the server (decode), so any
 * byte string is a name and no encoding can mangle it.
 *
 * SQLite's statements (ODBC only) do the same work in its dialect; the
 * SQLite ODBC driver returns no rows for INSERT/UPDATE ... RETURNING, so
 * their outcome is the affected-row count, and the acquiring statement is
 * followed by a read of the token it wrote. Times are milliseconds since the
 * epoch by the database's clock (for SQLite the database is a file, and its
 * clock is that of the machine running the statement: see the README).
 */
#ifndef SQLLOCK_LEASE_SQL_H
#define SQLLOCK_LEASE_SQL_H

/*
 * Each lease has a notification channel of its own, LEASE_CHANNEL_PREFIX
 * and the 16 hex digits of the name's key (a release notifies it), and a
 * queue: a session advisory lock on LEASE_QUEUE_KEY(key). Waiters over
 * libpq wait for the queue lock, which PostgreSQL grants in arrival order;
 * only its holder, the head, listens on the channel and tries the row. So
 * a release wakes one waiter, the first to come.
 */
#define LEASE_CHANNEL_PREFIX "sqllock_lease_"
#define LEASE_QUEUE_KEY(key) ((key) ^ UINT64_C(0x9e3779b97f4a7c15))

/* ---- PostgreSQL ---------------------------------------------------------- */

/* The CTEs t (the server's clock) and got: the row taken when it is free
   or expired, from `from` where `cond` (a WHERE clause or ""). */
#define LEASE_PG_TAKE(n, h, p, o, t, m, from, cond)                                             \
    " t AS (SELECT pg_catalog.clock_timestamp() AS now),"                                       \
    " got AS (INSERT INTO sqllock_lease AS l (name, owner_host, owner_pid,"                     \
    "   owner_id, token, acquired_at, expires_at, min_until, released)"                         \
    "  SELECT pg_catalog.decode(" n ", 'hex'), " h ", " p "::pg_catalog.int8, " o ", 1, t.now," \
    "   t.now + " t "::pg_catalog.int8 * interval '1 millisecond',"                             \
    "   t.now + " m "::pg_catalog.int8 * interval '1 millisecond', false FROM " from cond       \
    "  ON CONFLICT (name) DO UPDATE SET owner_host = excluded.owner_host,"                      \
    "   owner_pid = excluded.owner_pid, owner_id = excluded.owner_id,"                          \
    "   token = l.token + 1, acquired_at = excluded.acquired_at,"                               \
    "   expires_at = excluded.expires_at, min_until = excluded.min_until,"                      \
    "   released = false"                                                                       \
    "  WHERE l.expires_at <= excluded.acquired_at"                                              \
    "  RETURNING l.token)"
/* The first two columns of every acquire: the new token or NULL, and the
   ms the holder still has (looked up only when the take failed: the
   planner makes NOT EXISTS a one-time filter). */
#define LEASE_PG_TAKEN(n2)                                                                      \
    " SELECT (SELECT token FROM got),"                                                          \
    "  (SELECT pg_catalog.ceil(extract(epoch FROM h.expires_at - t.now) * 1000)"                \
    "::pg_catalog.int8 FROM sqllock_lease h, t"                                                 \
    "   WHERE h.name = pg_catalog.decode(" n2 ", 'hex') AND NOT EXISTS (SELECT 1 FROM got))"

/* Takes the row when it is free or expired, by the server's clock; returns
   (new token or NULL, ms the holder still has). Order: n h p o t m n2. */
#define LEASE_PG_ACQUIRE(n, h, p, o, t, m, n2)                                                  \
    "WITH" LEASE_PG_TAKE(n, h, p, o, t, m, "t", "") LEASE_PG_TAKEN(n2)

/* The same, but only when no waiter is queued: the queue key q is free
   (taken until this transaction ends, so that a waiter queueing meanwhile
   sees the outcome). Order: q n h p o t m n2. */
#define LEASE_PG_ACQUIRE_UNQUEUED(q, n, h, p, o, t, m, n2)                                      \
    "WITH q AS MATERIALIZED (SELECT pg_catalog.pg_try_advisory_xact_lock(" q                    \
    "::pg_catalog.int8) AS free)," LEASE_PG_TAKE(n, h, p, o, t, m, "t, q", " WHERE q.free")     \
        LEASE_PG_TAKEN(n2)

/* The head's try: on taking the row it leaves the queue (unlocks q).
   Order: n h p o t m n2 q. */
#define LEASE_PG_ACQUIRE_HEAD(n, h, p, o, t, m, n2, q)                                          \
    "WITH" LEASE_PG_TAKE(n, h, p, o, t, m, "t", "")                                             \
        LEASE_PG_TAKEN(n2) ", (SELECT pg_catalog.pg_advisory_unlock(" q                         \
                           "::pg_catalog.int8) FROM got)"

/* Owner and token still match and the lease has not run out. */
#define LEASE_PG_MINE(n, o, k)                                                                  \
    " name = pg_catalog.decode(" n ", 'hex') AND owner_id = " o " AND token = " k               \
    "::pg_catalog.int8 AND NOT released"                                                        \
    " AND expires_at > pg_catalog.clock_timestamp()"

/* A release before min_until keeps the lease until then (ttl_min_ms). The
   notification, on the lease's own channel, goes out only when a waiter
   queues (the queue key q is held: by the head): a transaction that
   notifies takes one lock of the whole server while it commits, so a
   notification nobody waits for would serialise every release. The head
   re-reads when the row frees, which may be min_until rather than the
   expiry it had read. Testing q takes it until this transaction ends, so
   a waiter that queues meanwhile tries only once the release is visible.
   One row: (1 released / 0 not ours, notifications). Order: n o k x x2 q
   (x, x2: the key in hex). */
#define LEASE_PG_RELEASE(n, o, k, x, x2, q)                                                     \
    "WITH r AS (UPDATE sqllock_lease SET released = true,"                                      \
    "  expires_at = GREATEST(min_until, pg_catalog.clock_timestamp())"                          \
    "  WHERE" LEASE_PG_MINE(                                                                    \
        n, o, k) " RETURNING 1),"                                                               \
                 " n AS (SELECT pg_catalog.pg_notify('" LEASE_CHANNEL_PREFIX "' || " x ", " x2  \
                 ") FROM r"                                                                     \
                 "  WHERE NOT pg_catalog.pg_try_advisory_xact_lock(" q "::pg_catalog.int8))"    \
                 " SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM n)"

/* 't' while held. Order: n o k. */
#define LEASE_PG_CHECK(n, o, k)                                                                 \
    "SELECT EXISTS (SELECT 1 FROM sqllock_lease WHERE" LEASE_PG_MINE(n, o, k) ")"

/* 1 when extended, 0 when no longer ours. Order: e n o k. */
#define LEASE_PG_EXTEND(e, n, o, k)                                                             \
    "WITH e AS (UPDATE sqllock_lease SET expires_at = GREATEST(min_until,"                      \
    "  pg_catalog.clock_timestamp() + " e "::pg_catalog.int8"                                   \
    " * interval '1 millisecond')"                                                              \
    "  WHERE" LEASE_PG_MINE(n, o, k) " RETURNING 1)"                                            \
                                     " SELECT count(*) FROM e"

/* (done, why the marker could not be written: '' or the SQLSTATE the
   INSERT would fail with), so that a job is not run when it could not be
   recorded done. Order: n. */
#define LEASE_PG_ONCE_DONE(n)                                                                   \
    "SELECT EXISTS (SELECT 1 FROM sqllock_once"                                                 \
    " WHERE name = pg_catalog.decode(" n ", 'hex')),"                                           \
    " CASE WHEN pg_catalog.current_setting('transaction_read_only')"                            \
    "::pg_catalog.bool THEN '25006'"                                                            \
    " WHEN NOT pg_catalog.has_table_privilege('sqllock_once', 'INSERT')"                        \
    " THEN '42501' ELSE '' END"
/* Order: n b k. */
#define LEASE_PG_ONCE_MARK(n, b, k)                                                             \
    "INSERT INTO sqllock_once (name, done_at, done_by, token)"                                  \
    " VALUES (pg_catalog.decode(" n ", 'hex'), pg_catalog.clock_timestamp(), " b ", " k         \
    "::pg_catalog.int8) ON CONFLICT (name) DO NOTHING"
#define LEASE_PG_ONCE_FORGET(n)                                                                 \
    "WITH d AS (DELETE FROM sqllock_once WHERE name = pg_catalog.decode(" n                     \
    ", 'hex') RETURNING 1) SELECT count(*) FROM d"

/* ---- SQLite (ODBC) ------------------------------------------------------- */

#define LEASE_SQLITE_NOW "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
#define LEASE_SQLITE_NAME "CAST(? AS BLOB)"

/* Affects one row when it took the lease. Order: n h p o t m. */
#define LEASE_SQLITE_ACQUIRE                                                                    \
    "INSERT INTO sqllock_lease (name, owner_host, owner_pid, owner_id, token,"                  \
    " acquired_at, expires_at, min_until, released)"                                            \
    " SELECT " LEASE_SQLITE_NAME ", ?, ?, ?, 1, now, now + ?, now + ?, 0"                       \
    " FROM (SELECT " LEASE_SQLITE_NOW " AS now) WHERE true"                                     \
    " ON CONFLICT (name) DO UPDATE SET owner_host = excluded.owner_host,"                       \
    " owner_pid = excluded.owner_pid, owner_id = excluded.owner_id,"                            \
    " token = sqllock_lease.token + 1, acquired_at = excluded.acquired_at,"                     \
    " expires_at = excluded.expires_at, min_until = excluded.min_until,"                        \
    " released = 0"                                                                             \
    " WHERE sqllock_lease.expires_at <= excluded.acquired_at"

#define LEASE_SQLITE_MINE                                                                       \
    " name = " LEASE_SQLITE_NAME " AND owner_id = ? AND token = ?"                              \
    " AND NOT released AND expires_at > " LEASE_SQLITE_NOW

/* The token of the row this client wrote last: read right after the
   acquiring statement took the row, it is that acquisition's token (only
   this client writes its owner id, and the row stays ours unless it
   expires, which the acquire then reports as BUSY). Order: n o. */
#define LEASE_SQLITE_TOKEN                                                                      \
    "SELECT token FROM sqllock_lease WHERE name = " LEASE_SQLITE_NAME " AND owner_id = ?"
/* ms the holder still has. Order: n. */
#define LEASE_SQLITE_LEFT                                                                       \
    "SELECT expires_at - " LEASE_SQLITE_NOW " FROM sqllock_lease"                               \
    " WHERE name = " LEASE_SQLITE_NAME
/* Order: n o k. */
#define LEASE_SQLITE_RELEASE                                                                    \
    "UPDATE sqllock_lease SET released = 1,"                                                    \
    " expires_at = MAX(min_until, " LEASE_SQLITE_NOW ") WHERE" LEASE_SQLITE_MINE
#define LEASE_SQLITE_CHECK                                                                      \
    "SELECT EXISTS (SELECT 1 FROM sqllock_lease WHERE" LEASE_SQLITE_MINE ")"
/* Order: e n o k. */
#define LEASE_SQLITE_EXTEND                                                                     \
    "UPDATE sqllock_lease SET expires_at = MAX(min_until, " LEASE_SQLITE_NOW                    \
    " + ?) WHERE" LEASE_SQLITE_MINE
#define LEASE_SQLITE_ONCE_DONE                                                                  \
    "SELECT EXISTS (SELECT 1 FROM sqllock_once WHERE name = " LEASE_SQLITE_NAME ")"
/* Order: n b k. */
#define LEASE_SQLITE_ONCE_MARK                                                                  \
    "INSERT INTO sqllock_once (name, done_at, done_by, token) VALUES (" LEASE_SQLITE_NAME       \
    ", " LEASE_SQLITE_NOW ", ?, ?) ON CONFLICT (name) DO NOTHING"
#define LEASE_SQLITE_ONCE_FORGET "DELETE FROM sqllock_once WHERE name = " LEASE_SQLITE_NAME

#endif /* SQLLOCK_LEASE_SQL_H */
