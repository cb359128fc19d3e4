/* SPDX-License-Identifier: MIT */
/*
 * sqllock: distributed locks that live in the SQL database an application
 * already runs. This header is the whole backend-neutral API; attaching an
 * existing connection needs <sqllock/pg.h> (libpq) or <sqllock/odbc.h>.
 *
 * Conventions: every function that can fail returns a sqllock_status and
 * writes its results through out-parameters that come first. What comes back
 * through an out-parameter belongs to the caller and is freed with the
 * matching free function. Strings returned by a handle live until the next
 * call on that handle.
 *
 * Threads: a sqllock_client, and every lock taken through it, may be used by
 * one thread at a time, like a PGconn. The one exception is sqllock_cancel(),
 * which may be called from any thread or from a signal handler.
 *
 * Processes: a client belongs to the process that made it (connect or
 * attach). A child after fork() shares the parent's connection, so in a
 * child sqllock_client_free() (directly or from an atexit handler) only
 * releases the child's memory and its copy of the socket, without a word to
 * the server: the parent's locks, lease rows and session are untouched.
 * Every other call in a child returns SQLLOCK_ESTATE naming the owner's pid,
 * and sqllock_cancel() does nothing there. A child that needs locks makes
 * a client of its own.
 */
#ifndef SQLLOCK_H
#define SQLLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SQLLOCK_VERSION_MAJOR 0
#define SQLLOCK_VERSION_MINOR 1
#define SQLLOCK_VERSION_PATCH 0
#define SQLLOCK_VERSION "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, comparable with sqllock_version(). */
#define SQLLOCK_VERSION_NUMBER                                                                  \
    (SQLLOCK_VERSION_MAJOR * 10000 + SQLLOCK_VERSION_MINOR * 100 + SQLLOCK_VERSION_PATCH)

#if defined(_WIN32) && defined(SQLLOCK_BUILDING_DLL)
#define SQLLOCK_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#define SQLLOCK_EXTERN __attribute__((visibility("default")))
#else
#define SQLLOCK_EXTERN
#endif

/*
 * Outcomes are >= 0, errors < 0. Values are fixed forever: new statuses are
 * appended, none is ever renumbered or reused.
 */
typedef enum sqllock_status {
    SQLLOCK_OK = 0,        /* done: the lock is held, released, or checked held */
    SQLLOCK_BUSY = 1,      /* held elsewhere; a try (wait_ms == 0) gave up at once */
    SQLLOCK_TIMEOUT = 2,   /* held elsewhere for the whole of wait_ms */
    SQLLOCK_CANCELED = 3,  /* the wait was ended by sqllock_cancel() */
    SQLLOCK_DEADLOCK = 4,  /* the server chose this wait as a deadlock victim */
    SQLLOCK_LOST = 5,      /* the lock is no longer held (session ended, ...) */
    SQLLOCK_PENDING = 6,   /* non-blocking use: the operation is still in flight */
    SQLLOCK_EINVAL = -1,   /* bad argument: NULL, empty or overlong name, bad option */
    SQLLOCK_ECONNECT = -2, /* cannot reach the server, or the connection broke */
    SQLLOCK_ESERVER = -3,  /* the server reported an error (see sqllock_errcode) */
    SQLLOCK_ENOMEM = -4,   /* out of memory */
    SQLLOCK_ENOTSUP = -5,  /* this backend or build cannot do what was asked */
    SQLLOCK_ESTATE = -6    /* not possible in the current state (no transaction,
                             aborted transaction, name already held, ...) */
} sqllock_status;

/* The library's version as SQLLOCK_VERSION_NUMBER computes it, at run time. */
SQLLOCK_EXTERN int sqllock_version(void);

/*
 * A static English description of s, e.g. "lock held elsewhere (busy)".
 * Never NULL; an unknown value gives "unknown status".
 */
SQLLOCK_EXTERN const char *sqllock_status_str(sqllock_status s);

/* ---- clients ------------------------------------------------------------ */

/* One database connection and the locks taken through it. Opaque. */
typedef struct sqllock_client sqllock_client;

/*
 * Opens a connection of the library's own and returns a client for it.
 *
 * url: "postgresql://..." or "postgres://..." URLs and libpq "key=value"
 *      strings select the pg-advisory backend over libpq. "odbc:..." selects
 *      ODBC (ENOTSUP in builds without it). Unless the string says otherwise
 *      the connection gets application_name "sqllock[<pid>]@<host>" (as a
 *      fallback: PGAPPNAME and application_name= still win), TCP keepalives
 *      (idle 10 s, interval 5 s, 3 probes), tcp_user_timeout 20 s and a 10 s
 *      connect timeout; its server session gets looser keepalives (30 s,
 *      10 s, 3 probes; tcp_user_timeout 60 s), statement_timeout,
 *      lock_timeout and the idle timeouts 0 (whatever a DBA set on the role
 *      or database) and client_connection_check_interval 2 s (PostgreSQL 14
 *      and later, over ODBC too), unless the string's options (or
 *      PGOPTIONS) set them. So
 *      across a silent network partition the client reports LOST before the
 *      server can free the lock for another holder, and a waiter whose
 *      process dies leaves the server's lock queue within about 2 s.
 *
 * On success *out is the new client (free with sqllock_client_free) and the
 * result is SQLLOCK_OK. On failure the result is EINVAL (malformed string,
 * unsupported scheme), ECONNECT (unreachable, refused, authentication
 * failed), ESTATE (a PostgreSQL server in recovery: a standby's advisory
 * locks are not seen by the primary) or ENOMEM, and *out is still a client
 * that carries the reason in
 * sqllock_errmsg() and must be freed; only when memory ran out before a
 * client could exist is *out NULL. No message ever contains a password.
 *
 * Reconnecting: when a connection the library opened has broken (the
 * session terminated, the server restarted), the client's next acquire
 * opens it again with the same string and the same setup, within
 * connect_timeout (over ODBC: the 10 s login timeout), before it asks for
 * the lock (sqllock_acquire_start does it as its first steps, without
 * blocking, on libpq; over ODBC it stays ENOTSUP); while the server cannot
 * be reached that acquire is ECONNECT, and the one after tries again. The
 * locks of the old session are not taken again: their handles say LOST
 * (check, release) and their names are free to acquire anew. Leases are
 * rows and survive the reconnect. Over libpq an acquire first reads what
 * the server said while the client was idle (no round trip), so after a
 * terminate or restart it is that acquire which reconnects and succeeds. A
 * break that only shows mid-statement (the server vanished without a
 * word; over ODBC always: a call that failed with SQLSTATE class 08, or
 * the driver's SQL_ATTR_CONNECTION_DEAD) fails the call that meets it,
 * and the next acquire reconnects. An attached connection (libpq or ODBC)
 * is the caller's and is never reopened (ECONNECT).
 */
SQLLOCK_EXTERN sqllock_status sqllock_connect(sqllock_client **out, const char *url);

/*
 * Closes the client. Locks still held through it are released first: on a
 * libpq connection the library opened, closing the session releases them;
 * on an ODBC one (which a driver manager may pool rather than close) and on
 * an attached connection each session-scoped lock is unlocked (a connection
 * whose transaction has failed cannot be sent anything, and its locks stay
 * until the session ends). Every sqllock_lock of c is freed; using one
 * afterwards is undefined. An attached connection is left open.
 * sqllock_client_free(NULL) does nothing. In a process other than the one
 * that made c (a child after fork()) nothing is released or closed on the
 * server: see "Processes" above. Over libpq the child's copy of the socket
 * is closed; over ODBC, which has no way to close a connection silently, no
 * ODBC function is called and the driver's copy stays open (and allocated)
 * until the child exits or execs.
 */
SQLLOCK_EXTERN void sqllock_client_free(sqllock_client *c);

/*
 * Detail of the last failing call on c, for people: the reason, and the
 * server's message where there was one. Never contains a password. Empty
 * after a call that succeeded. Lives until the next call on c.
 * sqllock_errmsg(NULL) returns a static string saying so.
 */
SQLLOCK_EXTERN const char *sqllock_errmsg(const sqllock_client *c);

/*
 * The five-character SQLSTATE (or ODBC SQLSTATE) of the last server error on
 * c, for programs; "" when the last call had none. Lives as errmsg does.
 */
SQLLOCK_EXTERN const char *sqllock_errcode(const sqllock_client *c);

/* The status the last call on c returned (useful after SQLLOCK_USING). */
SQLLOCK_EXTERN sqllock_status sqllock_last_status(const sqllock_client *c);

/* "pg-advisory", ...; "none" for a client whose connect failed or for NULL.
   A static string. */
SQLLOCK_EXTERN const char *sqllock_backend_name(const sqllock_client *c);

/*
 * Asks a wait on c to stop: an acquire that is waiting returns
 * SQLLOCK_CANCELED, unless the server granted the lock first, in which case
 * it returns SQLLOCK_OK and the lock is held. When no acquire is waiting,
 * the next acquire on c that would wait returns SQLLOCK_CANCELED instead of
 * waiting (so a signal that arrives just before the wait is not lost); a
 * try (wait_ms == 0) is not affected and leaves the request pending.
 * Async-signal-safe and thread-safe: it only writes to a pipe. NULL is ignored.
 */
SQLLOCK_EXTERN void sqllock_cancel(sqllock_client *c);

/* ---- locks -------------------------------------------------------------- */

/* One held lock. Opaque; freed by sqllock_release(). */
typedef struct sqllock_lock sqllock_lock;

#define SQLLOCK_ACQUIRE_OPTS_VERSION 1
#define SQLLOCK_WAIT_FOREVER (-1)
#define SQLLOCK_EXCLUSIVE 0
#define SQLLOCK_SHARED 1
#define SQLLOCK_SESSION 0
#define SQLLOCK_TRANSACTION 1

/* Names are byte strings of 1 to SQLLOCK_NAME_MAX bytes. */
#define SQLLOCK_NAME_MAX 1024

/*
 * How to acquire. Start from SQLLOCK_ACQUIRE_OPTS_INIT; fields are only ever
 * appended, and a version this library does not know is SQLLOCK_EINVAL.
 */
typedef struct sqllock_acquire_opts {
    int version;        /* SQLLOCK_ACQUIRE_OPTS_VERSION */
    int64_t wait_ms;    /* 0: try once; > 0: wait up to this long (at most
                           2147483647); SQLLOCK_WAIT_FOREVER: no limit */
    int64_t ttl_ms;     /* 0: held until released or the session (or
                           transaction) ends; > 0: a lease that expires
                           (see "leases" below; ENOTSUP on a connection
                           without them); at most a year */
    int mode;           /* SQLLOCK_EXCLUSIVE or SQLLOCK_SHARED */
    int scope;          /* SQLLOCK_SESSION or SQLLOCK_TRANSACTION */
    int64_t ttl_min_ms; /* lease only: a release earlier than this keeps the
                           lease until then; 0 otherwise */
} sqllock_acquire_opts;

#define SQLLOCK_ACQUIRE_OPTS_INIT                                                               \
    {                                                                                           \
        SQLLOCK_ACQUIRE_OPTS_VERSION, 0, 0, SQLLOCK_EXCLUSIVE, SQLLOCK_SESSION, 0               \
    }

/*
 * Takes the lock called name through c.
 *
 * name: 1..SQLLOCK_NAME_MAX bytes, any bytes but NUL; it is data, never SQL.
 * opts: NULL means SQLLOCK_ACQUIRE_OPTS_INIT (try once, exclusive, session).
 *
 * Waiting is done by the server's own lock queue, so a released lock passes
 * to the next waiter at once; wait_ms bounds it on the server, and the
 * session's settings are left as they were (the caller's lock_timeout and
 * statement_timeout neither shorten the wait nor change).
 *
 * SQLLOCK_TRANSACTION scope takes the lock inside the transaction the
 * connection is in (it must be in one: otherwise SQLLOCK_ESTATE) and the
 * server releases it at COMMIT or ROLLBACK. A BUSY, TIMEOUT, CANCELED or
 * DEADLOCK outcome leaves that transaction usable, as it was.
 *
 * Returns OK and sets *out to the held lock; BUSY, TIMEOUT, CANCELED or
 * DEADLOCK when it was not taken; ESTATE when c already holds this name (or,
 * on PostgreSQL, the same advisory key): advisory locks are re-entrant on the
 * server, the library is not; EINVAL, ECONNECT, ESERVER, ENOMEM, ENOTSUP on
 * errors. Whenever the result is not OK, *out is NULL and the lock is
 * provably not held by c, even when the outcome raced with the grant.
 */
SQLLOCK_EXTERN sqllock_status sqllock_acquire(sqllock_lock **out, sqllock_client *c,
                                              const char *name,
                                              const sqllock_acquire_opts *opts);

/*
 * As sqllock_acquire(), for a raw 64-bit key that other tools lock by number
 * (pg_advisory_lock(bigint) in migration tools and hand-written SQL).
 * Backends without numeric keys return SQLLOCK_ENOTSUP.
 */
SQLLOCK_EXTERN sqllock_status sqllock_acquire_key(sqllock_lock **out, sqllock_client *c,
                                                  int64_t key, const sqllock_acquire_opts *opts);

/*
 * As sqllock_acquire_key(), in the other key space of PostgreSQL advisory
 * locks: the pair of int4 keys that pg_advisory_lock(int, int) takes. The
 * pair (a, b) and the int8 key ((int64_t)a << 32 | (uint32_t)b) are
 * different server locks (pg_locks shows the same classid and objid, with
 * objsubid 2 and 1), so neither excludes the other. Backends without
 * numeric keys return SQLLOCK_ENOTSUP; a ttl (leases are named) too.
 */
SQLLOCK_EXTERN sqllock_status sqllock_acquire_key_pair(sqllock_lock **out, sqllock_client *c,
                                                       int32_t a, int32_t b,
                                                       const sqllock_acquire_opts *opts);

/* The most names one sqllock_acquire_all call takes. */
#define SQLLOCK_ACQUIRE_ALL_MAX 1024

/*
 * Takes every one of the n locks names[0..n) through c, or none of them.
 * On OK, out[i] is the lock of names[i], each released on its own with
 * sqllock_release(); on any other result every out[i] is NULL and nothing
 * taken by this call is held: session locks and leases taken on the way
 * are released before it returns; transaction-scoped ones (which the
 * server cannot unlock) are given up as sqllock_release does, held by the
 * server until the transaction ends (so a failed SQLLOCK_TRANSACTION call
 * should be followed by ROLLBACK when the others must see them free).
 *
 * The locks are taken in one global order, by key (the identity of the
 * name on the backend: sqllock_advisory_key() on PostgreSQL) as a signed
 * 64-bit number, then by name bytes, whatever the order of names: two
 * callers asking for overlapping sets in any order never deadlock with
 * each other. opts is as for sqllock_acquire() and applies to every lock.
 * wait_ms bounds the whole call: one deadline, each lock waiting for what
 * is left of it; once it has passed, a lock that is held elsewhere makes
 * the call TIMEOUT. wait_ms 0 (a try) of several names is one statement on
 * pg-advisory (libpq and ODBC) in session scope; elsewhere (SQL Server,
 * leases, transaction scope) and for every wait the locks are taken one by
 * one in key order, and those taken are released when one fails.
 *
 * n is 1..SQLLOCK_ACQUIRE_ALL_MAX. A NULL out, names or names[i], n 0 or
 * too large, a name given twice, and two names that are one lock (the
 * same key) are SQLLOCK_EINVAL; each name is checked as sqllock_acquire()
 * checks it. The other results are sqllock_acquire()'s, with the message
 * naming the lock that failed. Blocking only: there is no _start variant.
 */
SQLLOCK_EXTERN sqllock_status sqllock_acquire_all(sqllock_lock **out, sqllock_client *c,
                                                  const char *const *names, size_t n,
                                                  const sqllock_acquire_opts *opts);

/*
 * Releases l and frees it. Returns OK, or LOST when the lock was no longer
 * held (its session or transaction had ended); l is freed either way.
 * The one exception is SQLLOCK_ESTATE: the connection is in a failed
 * transaction (or busy with another query), nothing can be sent, and l
 * stays valid and held: end the transaction, then call again.
 *
 * A transaction-scoped lock cannot be released before its transaction ends:
 * release forgets the handle, returns OK while the transaction is still
 * open (the server releases the lock at COMMIT or ROLLBACK) and LOST when it
 * has already ended. sqllock_release(NULL) returns SQLLOCK_EINVAL.
 */
SQLLOCK_EXTERN sqllock_status sqllock_release(sqllock_lock *l);

/*
 * Asks the server whether l is still held: OK while it is, LOST once it is
 * not (backend terminated, server restarted, transaction ended). ESTATE when
 * the connection's transaction has failed and a session-scoped lock cannot
 * be checked until it ends. NULL: SQLLOCK_EINVAL.
 */
SQLLOCK_EXTERN sqllock_status sqllock_check(sqllock_lock *l);

/*
 * Moves a lease's expiry to ttl_ms from now (by the server's clock; never
 * earlier than its ttl_min_ms). Returns OK; LOST when the lease had already
 * expired or been taken over (it is not revived); EINVAL for ttl_ms <= 0 or
 * NULL; ENOTSUP for locks that do not expire (server primitives).
 */
SQLLOCK_EXTERN sqllock_status sqllock_extend(sqllock_lock *l, int64_t ttl_ms);

/*
 * When lease l could expire at the earliest, as a CLOCK_MONOTONIC time in
 * milliseconds: the moment the statement that took or last renewed it was
 * sent, plus its ttl. The server stamps the expiry later than that by its
 * own clock, so until then the lease is certainly held; stop the work it
 * guards before then unless it was renewed. -1 for a lock that does not
 * expire, or NULL. Any thread may call it at any time, also while another
 * renews l.
 */
SQLLOCK_EXTERN int64_t sqllock_lease_deadline(const sqllock_lock *l);

/*
 * Keeps lease l alive for its holder (on != 0), or no longer (0): once a
 * third of its ttl has passed since it was taken or last renewed, the
 * library renews it to its ttl, until it is released. A renewal that fails
 * without the lease being lost (the server unreachable, the connection
 * broken) is tried again, reconnecting first as an acquire does, until the
 * lease's deadline; a renewal that finds the lease gone, or a deadline
 * passed without one, is a loss (LOST), and the library stops renewing it.
 * Renewals are made by whoever drives the client:
 * - an event loop: while nothing is in flight, sqllock_timeout_ms counts
 *   down to the next renewal, and sqllock_poll then begins it and returns
 *   PENDING; until a poll returns its outcome (OK, LOST with *out the lost
 *   lease, or the error of a try that will be retried) the client is busy,
 *   as with an operation of the caller's own;
 * - a blocking program: sqllock_keep_alive_run, on a thread of its own.
 * Returns OK; ENOTSUP for a lock that does not expire; LOST when l is no
 * longer held; EINVAL for NULL.
 */
SQLLOCK_EXTERN sqllock_status sqllock_keep_alive(sqllock_lock *l, int on);

/*
 * Makes the renewals of c's kept-alive leases as they fall due, blocking,
 * until stop_fd is readable (OK) or one of them is lost (LOST, with
 * *lost_out that lease, which is still the caller's to release). EINVAL
 * when c keeps no lease alive or stop_fd is not open.
 * Thread-safety: it is a call on c like any other, so run it on a thread
 * of its own while no other thread uses c or its locks (sqllock_cancel and
 * sqllock_lease_deadline excepted), and write to stop_fd to make it return
 * before c is used again.
 */
SQLLOCK_EXTERN sqllock_status sqllock_keep_alive_run(sqllock_lock **lost_out, sqllock_client *c,
                                                     int stop_fd);

/*
 * A number that is > 0 and strictly increases with every acquisition of the
 * name, for fencing writes; 0 when the backend has none (advisory locks).
 * Leases: the row's token + 1, computed by the server in the acquiring
 * statement, so it grows across takeovers after expiry and never goes back
 * (rows are kept after release). Pass it with every write the lock guards
 * and have the store refuse a token lower than one it has seen. NULL: 0.
 */
SQLLOCK_EXTERN int64_t sqllock_fencing_token(const sqllock_lock *l);

/* The name l was acquired with (NUL-terminated), or "" for a numeric key
   or NULL. Lives as long as l. */
SQLLOCK_EXTERN const char *sqllock_lock_name(const sqllock_lock *l);

/*
 * The PostgreSQL advisory key for name: equal to hashtextextended(name, 0)
 * as a server with UTF8 (or any ASCII-compatible) encoding on a little-endian
 * machine computes it, so `SELECT pg_advisory_lock(hashtextextended('n', 0))`
 * in psql takes the same lock. Computed locally; any bytes are accepted.
 * NULL gives 0.
 */
SQLLOCK_EXTERN int64_t sqllock_advisory_key(const char *name);

/* ---- non-blocking use (event loops) ------------------------------------------ */

/*
 * For a program built around poll(), epoll, libuv or libevent: the same
 * acquire, release and check, started and then driven by the loop, so that
 * one thread can wait for many locks at once. The blocking calls above are
 * loops over these same steps: an operation started here behaves exactly as
 * its blocking call (the same waits, bounds, cancel and no-orphan rules).
 *
 * One operation is in flight per client at a time, as in libpq: a _start,
 * or any blocking call, while one is in flight is SQLLOCK_ESTATE and
 * changes nothing. A _start returns SQLLOCK_PENDING once the operation is
 * under way, and its outcome always comes from sqllock_poll, even one that
 * was known at once. Anything else a _start returns was decided before
 * anything started, and nothing is in flight: an error (a bad argument,
 * ESTATE, ENOTSUP), or LOST for a handle whose transaction had ended (freed
 * then, as by sqllock_release).
 *
 * While an operation is in flight, wait until sqllock_socket(c) is ready
 * for sqllock_events(c), or until sqllock_timeout_ms(c) has passed, and
 * call sqllock_poll(): it returns SQLLOCK_PENDING while the operation goes
 * on, and its outcome exactly once, which is what the blocking call would
 * have returned (an acquire's lock in *out on OK; out may be NULL for a
 * release or check). Ask for the socket, events and timeout again after
 * every poll: they change as the operation goes (the socket may even be
 * another one after a reconnect).
 *
 * sqllock_cancel(c) ends a pending acquire's wait: sqllock_timeout_ms is 0
 * from then on until a poll has acted on it, and polls return PENDING
 * until the server's answer, then CANCELED (or OK when the grant came
 * first), with nothing of the wait left queued or held. A lease waiter
 * between two of its statements acts on it once the one in flight has
 * answered (its socket says when). A poll may spend one short connect to
 * the server sending a cancel request. A cancel from another thread does
 * not wake a poll() the loop is in: wake the loop too (a self-pipe,
 * uv_async_send, event_active), or cancel from the loop's own thread.
 *
 * While nothing is in flight the socket is still worth watching for READ:
 * when it becomes readable, sqllock_poll(NULL, c) reads what arrived and
 * returns SQLLOCK_LOST when the server closed the session and the client
 * held session locks (all of them are then lost: check and release say
 * LOST), SQLLOCK_ECONNECT when it held none (leases, rows that outlive the
 * session, stay taken until their ttl), else SQLLOCK_OK. With a lease kept
 * alive (sqllock_keep_alive), sqllock_timeout_ms is also the time until its
 * next renewal, and a poll once it is due begins the renewal (PENDING, an
 * operation in flight like any other, its outcome from a later poll).
 *
 * Backends: pg-advisory and leases over libpq, on connections of ours and
 * attached ones (a lease waiter sleeps on the socket until the holder's
 * release notifies it, or sqllock_timeout_ms says its expiry is due). Over
 * ODBC, whose asynchronous mode is not reliable across drivers, the _start
 * calls are SQLLOCK_ENOTSUP and sqllock_socket is -1. Nothing on this path
 * sleeps or starts a thread. Three rare cases block for one round trip:
 * re-preparing statements after the application's DISCARD ALL, creating
 * the lease tables on their first use, and an acquire of a lock this
 * client already has an entry for that only the server can judge (a
 * transaction-scoped one, or one the session held before it was attached).
 * Threads: as every call on c, one thread at a time; sqllock_socket,
 * sqllock_events and sqllock_timeout_ms read only c.
 */
#define SQLLOCK_EV_READ 1
#define SQLLOCK_EV_WRITE 2

/* As sqllock_connect, started: *out is the client whatever it returns
   (sqllock_client_free it in the end, as always), and while it says
   SQLLOCK_PENDING, sqllock_poll(NULL, *out) goes on until OK, connected,
   or the error. Only libpq's URLs ("odbc:" is ENOTSUP); connect_timeout
   bounds the attempt at each host of a multi-host URL, as in libpq, so a
   host that hangs is left for the next one. */
SQLLOCK_EXTERN sqllock_status sqllock_connect_start(sqllock_client **out, const char *url);

/* As sqllock_acquire, sqllock_acquire_key, sqllock_release and
   sqllock_check, started: SQLLOCK_PENDING, or a refusal before anything
   started (see above). NULL c or l: SQLLOCK_EINVAL. */
SQLLOCK_EXTERN sqllock_status sqllock_acquire_start(sqllock_client *c, const char *name,
                                                    const sqllock_acquire_opts *opts);
SQLLOCK_EXTERN sqllock_status sqllock_acquire_key_start(sqllock_client *c, int64_t key,
                                                        const sqllock_acquire_opts *opts);
SQLLOCK_EXTERN sqllock_status sqllock_release_start(sqllock_lock *l);
SQLLOCK_EXTERN sqllock_status sqllock_check_start(sqllock_lock *l);

/* Advances the operation in flight on c, or (none in flight) reads what
   the server sent. *out: an acquire's lock on OK, else NULL. c NULL, or
   out NULL when an acquire ends: SQLLOCK_EINVAL (the acquire stays in
   flight). */
SQLLOCK_EXTERN sqllock_status sqllock_poll(sqllock_lock **out, sqllock_client *c);

/* The socket to watch, -1 when there is none (no connection, or one that
   cannot be watched: ODBC). */
SQLLOCK_EXTERN int sqllock_socket(const sqllock_client *c);
/* What to watch it for: SQLLOCK_EV_READ, | SQLLOCK_EV_WRITE while the
   operation's statements are not all sent; 0 when there is no socket. */
SQLLOCK_EXTERN int sqllock_events(const sqllock_client *c);
/* Milliseconds after which to poll even if the socket stays quiet: 0 now,
   -1 no limit. */
SQLLOCK_EXTERN int64_t sqllock_timeout_ms(const sqllock_client *c);

/* ---- execute with lock ---------------------------------------------------- */

/*
 * Acquires name, runs fn(payload) only if that returned OK, stores fn's
 * result in *fn_result_out (when not NULL) and releases the lock on every
 * path. Returns the acquire status when the lock was not taken (fn did not
 * run), otherwise the release status: OK, or LOST when the lock was lost at
 * some point while fn ran. fn NULL: SQLLOCK_EINVAL.
 */
SQLLOCK_EXTERN sqllock_status sqllock_with(int *fn_result_out, sqllock_client *c,
                                           const char *name, const sqllock_acquire_opts *opts,
                                           int (*fn)(void *payload), void *payload);

/* ---- leases and run once ---------------------------------------------------- */

/*
 * Leases. An acquire with ttl_ms > 0 takes a lease: a row of the
 * sqllock_lease table (sql/<dialect>.sql) that expires ttl_ms after it was
 * taken or last extended, judged by the server's clock (never the
 * client's), even while its owner still lives. Leases exist on PostgreSQL
 * (libpq or ODBC) and on SQLite over ODBC (a file database: there the
 * "server's clock" is that of the machine running each client, so every
 * client of one file must share a clock); elsewhere ENOTSUP. SQLite has no
 * session locks: on it every acquire needs ttl_ms > 0 (ENOTSUP otherwise)
 * and sqllock_backend_name() says "lease". Leases are exclusive and
 * session-scoped (SQLLOCK_SHARED or SQLLOCK_TRANSACTION with a ttl:
 * ENOTSUP), named (sqllock_acquire_key: ENOTSUP), and their statements run
 * only on a connection that is not inside a transaction (autocommit; ESTATE
 * otherwise), because a lease row must be committed the moment it is
 * written. Leases have no deadlock detection: crossed waits run to wait_ms.
 *
 * A lease and an advisory lock of the same name are two different locks.
 * Waiters over libpq queue, first come first served (README: the lease's
 * queue key, an advisory lock): the head sleeps until the holder's release
 * (LISTEN/NOTIFY on the lease's own channel) or its expiry, and a release
 * wakes the head alone; no fixed-interval polling. Over
 * ODBC, which cannot deliver notifications, and on SQLite, which has none,
 * a waiter polls with capped exponential backoff (5 ms doubling to 250 ms),
 * each sleep bounded by the holder's expiry and the wait's deadline.
 * On a broken connection check says ECONNECT: the row may still be held
 * until it expires. Over libpq, on a connection of ours, a check, extend
 * (or renewal) or release sent before the lease's deadline is not waited
 * for past it: a server that stopped answering then gives LOST at the
 * deadline, and the connection is given up (the next acquire reconnects).
 * sqllock_release, sqllock_check and sqllock_extend return SQLLOCK_LOST once
 * the lease has expired, whether or not another owner took it since.
 * ttl_min_ms: a release earlier than that keeps the lease until then.
 * sqllock_client_free releases the leases the client still holds (rows
 * outlive sessions); a lease whose owner dies expires by its ttl.
 *
 * Tables: a client that opened its own connection creates them when a
 * statement finds them missing (never otherwise, so a role without CREATE
 * uses the tables their owner installed and granted); on an attached
 * connection they must exist (ESTATE naming `sqllock init` otherwise):
 * `sqllock init` or this function installs them. Safe to call again. Needs
 * CREATE rights in the first schema of the search_path and a connection
 * outside any transaction (ESTATE otherwise). A refusal is ESERVER with the
 * SQLSTATE in sqllock_errcode() (42501 permission, 25006 read-only, 3F000
 * no schema to create in) and leaves the connection as it was.
 * NULL: SQLLOCK_EINVAL; a client without leases: SQLLOCK_ENOTSUP.
 */
SQLLOCK_EXTERN sqllock_status sqllock_install_schema(sqllock_client *c);
/* (Thread-safety of all three below: as any call on c, one thread at a time.) */

/*
 * Runs fn(payload) once across every process that calls this with the same
 * name on the same database: callers may call it at the same time; one of
 * them runs fn while the others wait (up to wait_ms, as in
 * sqllock_acquire: 0 try once, > 0, or SQLLOCK_WAIT_FOREVER), and when fn
 * returned 0 a done marker is recorded (table sqllock_once) and every later
 * caller returns OK with *ran_out = 0 without running fn.
 *
 * Mutual exclusion is the session lock (advisory lock) called name on c's
 * connection, so a runner that dies frees it at once and a long fn never
 * outlives a ttl. When fn returns non-zero or its process dies, no marker is
 * recorded and the next caller (or a waiting one) runs fn again. On SQLite,
 * which has no session locks, fn is guarded by a 10-minute lease instead: a
 * runner that dies holds the job up until that expires, and a fn that runs
 * longer lets a second runner in.
 *
 * ran_out (may be NULL) says what this call did, as one of the
 * SQLLOCK_RAN_* values below: non-zero exactly when it ran fn (so a test
 * `ran != 0` means "fn ran"). fn's own result is not interpreted beyond
 * zero/non-zero: pass it back through payload when the caller needs it.
 *
 * Returns, with *ran_out:
 *   OK, SQLLOCK_RAN_NONE: fn had already been done; it did not run.
 *   OK, SQLLOCK_RAN_RECORDED: fn ran, returned 0, and the marker is recorded.
 *   OK, SQLLOCK_RAN_FN_FAILED: fn ran and returned non-zero; nothing is
 *       recorded, and the next caller runs fn again.
 *   an error, SQLLOCK_RAN_NOT_RECORDED: fn ran and returned 0, but the
 *       marker could not be recorded (ESERVER with the server's SQLSTATE in
 *       sqllock_errcode(): a trigger, a revoked privilege, a dropped table;
 *       ECONNECT: the connection broke, and whether the marker was written
 *       is unknown). Every later caller runs fn again until a marker exists.
 *   BUSY/TIMEOUT/CANCELED, SQLLOCK_RAN_NONE: the lock was not had in
 *       wait_ms (fn did not run).
 *   ESERVER with sqllock_errcode() 42501 or 25006, SQLLOCK_RAN_NONE: the
 *       job is not done and this role or session could not record it done
 *       (a missing privilege, a read-only session), so fn did not run.
 *   EINVAL (c, name or fn NULL, a bad name), ENOTSUP (a connection without
 *       lease tables), ESTATE (inside a transaction, or the tables are
 *       missing on an attached connection), or another error of acquire,
 *       with SQLLOCK_RAN_NONE.
 * When fn ran and only the release of the lock failed afterwards, the
 * release's status is returned with the SQLLOCK_RAN_* of the run.
 */
#define SQLLOCK_RAN_NONE 0         /* fn did not run */
#define SQLLOCK_RAN_RECORDED 1     /* fn ran, returned 0, marker recorded */
#define SQLLOCK_RAN_FN_FAILED 2    /* fn ran and returned non-zero */
#define SQLLOCK_RAN_NOT_RECORDED 3 /* fn ran, returned 0, marker not recorded */

SQLLOCK_EXTERN sqllock_status sqllock_run_once(int *ran_out, sqllock_client *c, const char *name,
                                               int64_t wait_ms, int (*fn)(void *payload),
                                               void *payload);

/*
 * Removes the run-once marker of name, so that the next sqllock_run_once
 * runs fn again. *existed_out (may be NULL) is 1 when there was a marker.
 * Returns OK, or an error as sqllock_run_once.
 */
SQLLOCK_EXTERN sqllock_status sqllock_once_forget(int *existed_out, sqllock_client *c,
                                                  const char *name);

/* ---- using-token ------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
/* Implementation of SQLLOCK_USING; not for direct use. */
SQLLOCK_EXTERN sqllock_lock *sqllock__using_acquire(sqllock_client *c, const char *name,
                                                    const sqllock_acquire_opts *opts);
SQLLOCK_EXTERN void sqllock__using_release(sqllock_lock **l);

#define SQLLOCK__CAT2(a, b) a##b
#define SQLLOCK__CAT(a, b) SQLLOCK__CAT2(a, b)
#define SQLLOCK__DONE SQLLOCK__CAT(sqllock__done_, __LINE__)

/*
 * SQLLOCK_USING(lock, client, name, opts) { if (lock) { ...held... } }
 *
 * Declares `sqllock_lock *lock` for the block that follows, set to the held
 * lock or NULL when acquire did not return OK (sqllock_last_status(client)
 * and sqllock_errmsg(client) say why). The lock is released on every way out
 * of the block: falling off its end, break, continue, return, goto. Like a
 * for statement, the block is the target of a break or continue inside it.
 * Calling sqllock_release(lock) inside the block is not allowed. GCC and
 * Clang (it uses the cleanup attribute).
 */
#define SQLLOCK_USING(lock, client, name, opts)                                                 \
    for (sqllock_lock * lock __attribute__((cleanup(sqllock__using_release))) =                 \
             sqllock__using_acquire((client), (name), (opts)),                                  \
                             *SQLLOCK__DONE = 0;                                                \
         !SQLLOCK__DONE; SQLLOCK__DONE = (sqllock_lock *)1)
#endif

#ifdef __cplusplus
}
#endif

#endif /* SQLLOCK_H */
