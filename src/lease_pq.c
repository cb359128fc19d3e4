/* SPDX-License-Identifier: MIT */
/*
 * The lease backend over libpq: locks that expire, kept as rows of the
 * sqllock_lease table (sql/postgresql.sql) on the connection the client
 * already has for advisory locks.
 *
 * Every decision is one statement judged by the server's clock:
 * - acquire is a conditional upsert that takes the row only when it has
 *   expired (or never existed) and returns the new fencing token, the row's
 *   old token + 1, so tokens never go back; when the row is busy the same
 *   statement returns how long the holder still has, by the server's clock;
 * - release, check and extend touch the row only while owner and token still
 *   match and the lease has not expired: otherwise the lock is LOST;
 * - a waiter queues (lease_sql.h): it waits for the lease's queue lock,
 *   which the server grants in arrival order, LISTENing on the lease's own
 *   channel in the same transaction; so only the head listens, and a
 *   release, which notifies that channel in its statement, wakes it alone.
 *   The head sleeps until the notification or the holder's expiry,
 *   whichever is first (never a fixed polling interval), and leaves the
 *   queue in the statement that takes the row. An acquire that finds no
 *   queue takes the row in one statement; one that finds a queue joins it,
 *   so a holder that releases and at once acquires again goes behind the
 *   waiters. Behind a pooler, where no session lock of ours lasts, a waiter
 *   polls (capped) without queueing, as over ODBC;
 *
 * A lease row must be visible to everyone the moment it is written, so the
 * statements run only on an idle connection (autocommit); inside the
 * caller's transaction they are ESTATE. On a connection the library opened
 * the tables are created when a statement finds them missing (never
 * before: a role without CREATE uses the tables `sqllock init` made); on
 * an attached one a missing table is ESTATE naming `sqllock init`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease_int.h"
#include "lease_sql.h"
#include "pg_sql.h"
#include "pq_int.h"

#define HEXNAME_MAX LEASE_HEXNAME_MAX

/* lease_state of a client whose connection is libpq. */
struct lease_pg {
    struct lease_owner owner;
    struct pq_state *conn; /* the client's, given at install */
};

/* The statements: the PostgreSQL ones shared with the ODBC transport
   (lease_sql.h), and the queue's. Prepared when first sent on a connection
   of ours; sent as text on a lent one (its tables may not exist yet). */
enum {
    L_ACQUIRE,
    L_ACQUIRE_UNQUEUED,
    L_ACQUIRE_HEAD,
    L_RELEASE,
    L_CHECK,
    L_EXTEND,
    L_ONCE_DONE,
    L_ONCE_MARK,
    L_ONCE_FORGET,
    L_QUEUE_SET, /* joining the queue: bounded by lock_timeout, not by a
                      DBA's statement_timeout */
    L_QUEUE_JOIN,
    L_QUEUE_LEAVE, /* after a failure: unlocks the queue key if held */
    L_COUNT
};
static const char *const stmt_name[L_COUNT] = {
    "sqllock1_lease_acquire",      "sqllock1_lease_acquire_unqueued",
    "sqllock1_lease_acquire_head", "sqllock1_lease_release",
    "sqllock1_lease_check",        "sqllock1_lease_extend",
    "sqllock1_once_done",          "sqllock1_once_mark",
    "sqllock1_once_forget",        "sqllock1_queue_set",
    "sqllock1_queue_join",         "sqllock1_queue_leave",
};
static const char *const stmt_sql[L_COUNT] = {
    LEASE_PG_ACQUIRE("$1", "$2", "$3", "$4", "$5", "$6", "$1"),
    LEASE_PG_ACQUIRE_UNQUEUED("$7", "$1", "$2", "$3", "$4", "$5", "$6", "$1"),
    LEASE_PG_ACQUIRE_HEAD("$1", "$2", "$3", "$4", "$5", "$6", "$1", "$7"),
    LEASE_PG_RELEASE("$1", "$2", "$3", "$4", "$4", "$5"),
    LEASE_PG_CHECK("$1", "$2", "$3"),
    LEASE_PG_EXTEND("$4", "$1", "$2", "$3"),
    LEASE_PG_ONCE_DONE("$1"),
    LEASE_PG_ONCE_MARK("$1", "$2", "$3"),
    LEASE_PG_ONCE_FORGET("$1"),
    PG_SQL_SET("$1"),
    PG_SQL_KEYFN("pg_advisory_lock", "$1"),
    PG_SQL_CLEANUP("$1", "$2", "'ExclusiveLock'", "'ExclusiveLock'", "$3", "$3"),
};
static const struct pq_stmts stmts = {stmt_name, stmt_sql, L_COUNT, 0};
_Static_assert(L_COUNT <= PQ_STMT_MAX, "raise PQ_STMT_MAX");

static struct lease_pg *lease_of(sqllock_client *c)
{
    return c->lease_state;
}

static struct pq_state *conn_of(sqllock_client *c)
{
    return lease_of(c)->conn;
}


static uint64_t lease_ident(const char *name, size_t len)
{
    return sqllock__hashtext64((const unsigned char *)name, len);
}

/* The connection can carry a lease statement now: connected and idle. */
static sqllock_status ready(sqllock_client *c, const char *what)
{
    struct pq_state *s = conn_of(c);
    if (!sqllock__pq_connected(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "%s: the connection to the server is "
                             "closed or broken",
                             what);
    if (sqllock__pq_txn(s) != PQTRANS_IDLE)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: lease statements run outside any "
                             "transaction (a lease row must be committed the moment it "
                             "is written); COMMIT or ROLLBACK first",
                             what);
    return SQLLOCK_OK;
}

/* The schema script, one transaction. A failure inside it leaves the
   session in a failed transaction: rolled back here, so that the client is
   exactly as usable as before (its advisory locks are session locks, and
   survive the rollback). */
static sqllock_status run_schema(sqllock_client *c)
{
    sqllock_status st = sqllock__pq_run_script(c, conn_of(c), sqllock__lease_schema_postgresql,
                                               "installing the lease schema");
    return st == SQLLOCK_OK ? st : sqllock__lease_explain(c, st);
}

static sqllock_status lease_install_schema(sqllock_client *c)
{
    sqllock_status st = ready(c, "install schema");
    return st == SQLLOCK_OK ? run_schema(c) : st;
}

/* Statement stmt (or, when text is not NULL, that text), one round trip,
   followed in the same transaction by the statement `then` unless NULL;
   the first row's first two columns in *r. *again is set when the tables
   do not exist (42P01: 1) or a statement of ours was not, or already,
   prepared (2). */
static sqllock_status run_one(sqllock_client *c, int stmt, const char *text, int n,
                              const char *const *params, const char *then, struct pqx_step *r,
                              const char *what, int *again)
{
    struct pqx x;
    sqllock_status st = then ? sqllock__pqx_begin(&x, c, conn_of(c), 0)
                             : sqllock__pqx_begin_one(&x, c, conn_of(c));
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, what) : st;
    if (text)
        sqllock__pqx_send_sql(&x, text, n, params);
    else
        sqllock__pqx_send(&x, &stmts, stmt, n, params);
    if (then)
        sqllock__pqx_send_sql(&x, then, 0, NULL);
    sqllock__pqx_sync(&x);
    sqllock__pqx_read(&x, r);
    sqllock__pqx_end(&x);
    if (r->ok == 1 && !x.failed)
        return SQLLOCK_OK;
    *again = strcmp(x.sqlstate, "42P01") == 0 ? 1 : sqllock__pqx_stale(&x) ? 2 : 0;
    return sqllock__lease_explain(c, sqllock__pqx_fail(&x, what));
}

/*
 * A lease statement. The tables are created only when they turn out to be
 * missing, so that a role without CREATE uses the tables their owner
 * installed (`sqllock init`), and only on a connection we own: on an
 * attached one a missing table is the caller's to install.
 */
static sqllock_status run_stmt(sqllock_client *c, int stmt, const char *text, int n,
                               const char *const *params, const char *then, struct pqx_step *r,
                               const char *what)
{
    sqllock_status st = ready(c, what);
    if (st != SQLLOCK_OK)
        return st;
    int again = 0;
    st = run_one(c, stmt, text, n, params, then, r, what, &again);
    if (again == 2 && (st = sqllock__pq_prepare_all(c, conn_of(c))) == SQLLOCK_OK)
        st = run_one(c, stmt, text, n, params, then, r, what, &again);
    if (again == 1 && c->owns_connection) {
        if ((st = run_schema(c)) != SQLLOCK_OK)
            return st;
        again = 0;
        st = run_one(c, stmt, text, n, params, then, r, what, &again);
    }
    if (again != 1)
        return st;
    return sqllock__fail(c, SQLLOCK_ESTATE,
                         "%s: the lease tables do not exist in this "
                         "database (or are not on the search_path): run `sqllock init` "
                         "or sqllock_install_schema() once",
                         what);
}

static sqllock_status run(sqllock_client *c, int stmt, int n, const char *const *params,
                          struct pqx_step *r, const char *what)
{
    return run_stmt(c, stmt, NULL, n, params, NULL, r, what);
}

/* The parameters that name a held lease: hex name, owner id, token. */
struct mine {
    char hex[HEXNAME_MAX];
    char token[24];
    char key[24];
    char queue[24];
};

static const char *const *mine_params(sqllock_client *c, const sqllock_lock *l, struct mine *m,
                                      const char *params[5])
{
    sqllock__lease_hex(m->hex, l->name, l->name_len);
    snprintf(m->token, sizeof(m->token), "%lld", (long long)l->token);
    snprintf(m->key, sizeof(m->key), "%016llx", (unsigned long long)l->ident);
    params[0] = m->hex;
    params[1] = lease_of(c)->owner.id;
    params[2] = m->token;
    params[3] = m->key;
    snprintf(m->queue, sizeof(m->queue), "%lld", (long long)(int64_t)LEASE_QUEUE_KEY(l->ident));
    params[4] = m->queue;
    return params;
}

/* A lease's queue key (decimal, and as pg_locks shows it) and channel;
   all but the key are written only when a wait needs them (queue_names):
   an uncontended acquire formats no more than it sends. */
struct queue {
    char key[24], classid[12], objid[12];
    char channel[sizeof(LEASE_CHANNEL_PREFIX) + 16];
    char payload[17];
    char listen[sizeof(LEASE_CHANNEL_PREFIX) + 16 + 8],
        unlisten[sizeof(LEASE_CHANNEL_PREFIX) + 16 + 10];
};

static void queue_of(struct queue *q, const sqllock_lock *l)
{
    snprintf(q->key, sizeof(q->key), "%lld", (long long)(int64_t)LEASE_QUEUE_KEY(l->ident));
}

static void queue_names(struct queue *q, const sqllock_lock *l)
{
    uint64_t k = LEASE_QUEUE_KEY(l->ident);
    snprintf(q->classid, sizeof(q->classid), "%llu", (unsigned long long)(k >> 32));
    snprintf(q->objid, sizeof(q->objid), "%llu", (unsigned long long)(k & 0xffffffffu));
    snprintf(q->payload, sizeof(q->payload), "%016llx", (unsigned long long)l->ident);
    snprintf(q->channel, sizeof(q->channel), LEASE_CHANNEL_PREFIX "%s", q->payload);
    snprintf(q->listen, sizeof(q->listen), "LISTEN %s", q->channel);
    snprintf(q->unlisten, sizeof(q->unlisten), "UNLISTEN %s", q->channel);
}

/* Which acquiring statement: the plain one (no queue: behind a pooler),
   the one that defers to a queue, the head's. */
enum take { TAKE_PLAIN, TAKE_UNQUEUED, TAKE_HEAD };

/* One try: OK with l->token set, or BUSY with *left_ms the time the holder
   still has by the server's clock (-1 when unknown). */
static sqllock_status try_once(sqllock_client *c, sqllock_lock *l, const struct queue *q,
                               enum take how, const char *then, long long *left_ms)
{
    static const int stmt[] = {L_ACQUIRE, L_ACQUIRE_UNQUEUED, L_ACQUIRE_HEAD};
    struct lease_pg *lp = lease_of(c);
    char hex[HEXNAME_MAX], pid[24], ttl[24], ttl_min[24];
    sqllock__lease_hex(hex, l->name, l->name_len);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(ttl, sizeof(ttl), "%lld", (long long)l->ttl_ms);
    snprintf(ttl_min, sizeof(ttl_min), "%lld", (long long)l->ttl_min_ms);
    const char *params[7] = {hex, lp->owner.host, pid, lp->owner.id, ttl, ttl_min, q->key};
    struct pqx_step r;
    sqllock_status st =
        run_stmt(c, stmt[how], NULL, how == TAKE_PLAIN ? 6 : 7, params, then, &r, "acquire");
    if (st != SQLLOCK_OK)
        return st;
    if (r.value[0][0]) {
        l->token = strtoll(r.value[0], NULL, 10);
        return SQLLOCK_OK;
    }
    *left_ms = r.value[1][0] ? strtoll(r.value[1], NULL, 10) : -1;
    return sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lease is held by another owner");
}

static sqllock_status run_text(sqllock_client *c, const char *sql, const char *what)
{
    struct pqx_step r;
    return run_stmt(c, -1, sql, 0, NULL, NULL, &r, what);
}

/* Unlocks the queue key if the session holds it: after any failure that
   may have left it held (a grant that raced a timeout or cancel, an error
   of the head's), so that no queue stalls behind us. */
static void leave_queue(sqllock_client *c, const struct queue *q)
{
    if (!sqllock__pq_connected(conn_of(c)))
        return; /* a dead session holds nothing */
    struct sqllock_err saved;
    sqllock__err_save(c, &saved);
    const char *params[3] = {q->classid, q->objid, q->key};
    struct pqx_step r;
    (void)run(c, L_QUEUE_LEAVE, 3, params, &r, "acquire (leaving the queue)");
    (void)sqllock__err_restore(c, &saved);
}

/* Waits in the queue until this client is its head, listening on the
   lease's channel from then on: LISTEN, the bound and the lock in one
   transaction, so the LISTEN takes effect only for the head. */
static sqllock_status join_queue(sqllock_client *c, const struct queue *q, long long deadline)
{
    char timeout[24] = "0";
    if (deadline >= 0) {
        long long left = deadline - sqllock__now_ms();
        if (left <= 0)
            return sqllock__fail(c, SQLLOCK_TIMEOUT, "acquire: timed out waiting for the lease");
        snprintf(timeout, sizeof(timeout), "%lldms", left);
    }
    struct pqx x;
    struct pqx_step r[3];
    sqllock_status st = sqllock__pqx_begin(&x, c, conn_of(c), 1);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, "acquire") : st;
    const char *tp = timeout, *kp = q->key;
    sqllock__pqx_send_sql(&x, q->listen, 0, NULL);
    sqllock__pqx_send(&x, &stmts, L_QUEUE_SET, 1, &tp);
    sqllock__pqx_send(&x, &stmts, L_QUEUE_JOIN, 1, &kp);
    sqllock__pqx_sync(&x);
    for (int i = 0; i < 3; i++)
        sqllock__pqx_read(&x, &r[i]);
    sqllock__pqx_end(&x);
    if (r[2].ok == 1 && !x.failed)
        return SQLLOCK_OK;
    st = sqllock__pqx_fail(&x, "acquire");
    if (st == SQLLOCK_TIMEOUT)
        st = sqllock__fail(c, SQLLOCK_TIMEOUT, "acquire: timed out waiting for the lease");
    return st;
}

/* The head's wait: tries, then sleeps until the release's notification or
   the holder's expiry, until the row is taken or the deadline passes.
   *listening says whether the session still listens: a try after a
   wake-up, which usually takes the row, leaves the channel in the same
   round trip, and one that finds it still held listens again and looks
   once more (for a release in between) before it sleeps. */
static sqllock_status wait_as_head(sqllock_client *c, sqllock_lock *l, const struct queue *q,
                                   enum take how, long long deadline, int *listening)
{
    for (int woken = 0;; woken = 1) {
        long long left_ms = -1;
        int leave = how == TAKE_HEAD && woken;
        sqllock_status st = try_once(c, l, q, how, leave ? q->unlisten : NULL, &left_ms);
        if (leave && st != SQLLOCK_ECONNECT)
            *listening = st != SQLLOCK_OK && st != SQLLOCK_BUSY; /* failed: maybe not left */
        if (st == SQLLOCK_BUSY && leave) {
            if ((st = run_text(c, q->listen, "acquire (LISTEN)")) != SQLLOCK_OK)
                return st;
            *listening = 1;
            st = try_once(c, l, q, how, NULL, &left_ms);
        }
        if (st != SQLLOCK_BUSY)
            return st;
        long long sleep_ms = left_ms < 1 ? 1 : left_ms;
        if (deadline >= 0) {
            long long remaining = deadline - sqllock__now_ms();
            if (remaining <= 0)
                return sqllock__fail(c, SQLLOCK_TIMEOUT,
                                     "acquire: timed out waiting for the lease");
            if (remaining < sleep_ms)
                sleep_ms = remaining;
        }
        st =
            sqllock__pq_await_notify(c, conn_of(c), q->channel, q->payload, sleep_ms, "acquire");
        if (st != SQLLOCK_OK)
            return st;
    }
}

static sqllock_status wait_for_lease(sqllock_client *c, sqllock_lock *l, struct queue *q,
                                     int64_t wait_ms)
{
    queue_names(q, l);
    long long deadline = wait_ms == SQLLOCK_WAIT_FOREVER ? -1 : sqllock__now_ms() + wait_ms;
    /* Behind a pooler no session lock or LISTEN of ours lasts past the
       statement: poll (sqllock__pq_await_notify caps each sleep). */
    int listening = 0;
    if (conn_of(c)->pooled)
        return wait_as_head(c, l, q, TAKE_PLAIN, deadline, &listening);
    sqllock_status st = join_queue(c, q, deadline);
    listening = 1; /* or its LISTEN was rolled back: UNLISTEN is harmless */
    if (st == SQLLOCK_OK)
        st = wait_as_head(c, l, q, TAKE_HEAD, deadline, &listening);
    /* Leave the session as found; the outcome above is what the caller sees. */
    struct sqllock_err saved;
    sqllock__err_save(c, &saved);
    if (st != SQLLOCK_OK)
        leave_queue(c, q);
    if (sqllock__pq_connected(conn_of(c))) {
        if (listening)
            (void)run_text(c, q->unlisten, "acquire (UNLISTEN)");
        (void)sqllock__pq_notified(conn_of(c), q->channel, q->payload);
    }
    (void)sqllock__err_restore(c, &saved);
    return st;
}

static sqllock_status lease_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    struct queue q;
    queue_of(&q, l);
    long long left;
    sqllock_status st =
        try_once(c, l, &q, conn_of(c)->pooled ? TAKE_PLAIN : TAKE_UNQUEUED, NULL, &left);
    if (st != SQLLOCK_BUSY || wait_ms == 0)
        return st;
    if (sqllock__cancel_take(c))
        return sqllock__fail(c, SQLLOCK_CANCELED, "acquire: canceled before the wait began");
    return wait_for_lease(c, l, &q, wait_ms);
}

/* Runs a statement about a held lease whose first column counts the rows it
   touched (or is 't'): OK when it touched this lease, LOST otherwise. */
static sqllock_status on_mine(sqllock_client *c, sqllock_lock *l, int stmt, int nparams,
                              const char *extra, const char *what)
{
    struct mine m;
    const char *params[5];
    mine_params(c, l, &m, params);
    if (extra)
        params[3] = extra;
    struct pqx_step r;
    sqllock_status st = run(c, stmt, nparams, params, &r, what);
    if (st != SQLLOCK_OK)
        return st;
    if (strcmp(r.value[0], "1") == 0 || strcmp(r.value[0], "t") == 0)
        return SQLLOCK_OK;
    return sqllock__fail(c, SQLLOCK_LOST,
                         "%s: the lease is no longer ours (it expired, "
                         "and may have been taken by another owner)",
                         what);
}

static sqllock_status lease_release(sqllock_client *c, sqllock_lock *l)
{
    sqllock_status st = on_mine(c, l, L_RELEASE, 5, NULL, "release");
    return sqllock__lease_release_outcome(c, st);
}

static sqllock_status lease_check(sqllock_client *c, sqllock_lock *l)
{
    return on_mine(c, l, L_CHECK, 3, NULL, "check");
}

static sqllock_status lease_extend(sqllock_client *c, sqllock_lock *l, int64_t ttl_ms)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    return on_mine(c, l, L_EXTEND, 4, ttl, "extend");
}

static void lease_close(sqllock_client *c)
{
    free(c->lease_state);
    c->lease_state = NULL;
    c->lease_be = NULL;
}

static sqllock_status once_bool(sqllock_client *c, int stmt, const char *name, size_t len,
                                int *out, const char *what)
{
    char hex[HEXNAME_MAX];
    sqllock__lease_hex(hex, name, len);
    const char *params[1] = {hex};
    struct pqx_step r;
    sqllock_status st = run(c, stmt, 1, params, &r, what);
    if (st == SQLLOCK_OK)
        *out = strcmp(r.value[0], "t") == 0 || strcmp(r.value[0], "1") == 0;
    return st;
}

static sqllock_status lease_once_done(sqllock_client *c, const char *name, size_t len, int *done)
{
    char hex[HEXNAME_MAX];
    sqllock__lease_hex(hex, name, len);
    const char *params[1] = {hex};
    struct pqx_step r;
    sqllock_status st = run(c, L_ONCE_DONE, 1, params, &r, "run once");
    if (st != SQLLOCK_OK)
        return st;
    *done = strcmp(r.value[0], "t") == 0;
    return *done ? SQLLOCK_OK : sqllock__lease_once_unwritable(c, r.value[1]);
}

static sqllock_status lease_once_forget(sqllock_client *c, const char *name, size_t len,
                                        int *existed)
{
    return once_bool(c, L_ONCE_FORGET, name, len, existed, "forget run-once marker");
}

static sqllock_status lease_once_mark(sqllock_client *c, const char *name, size_t len,
                                      int64_t token)
{
    struct lease_pg *lp = lease_of(c);
    char hex[HEXNAME_MAX], by[320], tok[24];
    sqllock__lease_hex(hex, name, len);
    snprintf(by, sizeof(by), "%s:%ld:%s", lp->owner.host, (long)getpid(), lp->owner.id);
    snprintf(tok, sizeof(tok), "%lld", (long long)token);
    const char *params[3] = {hex, by, tok};
    struct pqx_step r;
    return run(c, L_ONCE_MARK, 3, params, &r, "run once (recording it done)");
}

static const struct sqllock_backend lease_pg = {
    .name = "lease",
    .caps = SQLLOCK_CAP_EXPIRY | SQLLOCK_CAP_RELEASE_BEFORE_CLOSE | SQLLOCK_CAP_MARKERS,
    .ident = lease_ident,
    .acquire = lease_acquire,
    .release = lease_release,
    .check = lease_check,
    .extend = lease_extend,
    .still_held = NULL, /* leases are live session entries: never asked */
    .in_transaction = sqllock__lease_no_transaction,
    .close = lease_close,
    .abandon = lease_close, /* memory only either way: the connection is the client's */
    .install_schema = lease_install_schema,
    .once_done = lease_once_done,
    .once_mark = lease_once_mark,
    .once_forget = lease_once_forget,
};

sqllock_status sqllock__lease_pq_install(sqllock_client *c, struct pq_state *conn)
{
    struct lease_pg *lp = calloc(1, sizeof(*lp));
    if (!lp)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "out of memory");
    if (sqllock__lease_owner_init(&lp->owner) != 0) {
        free(lp);
        return sqllock__fail(c, SQLLOCK_ESERVER, "no random numbers for the lease owner id");
    }
    lp->conn = conn;
    sqllock__pq_register(conn, &stmts);
    c->lease_be = &lease_pg;
    c->lease_state = lp;
    return SQLLOCK_OK;
}
