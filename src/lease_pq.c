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
#include <poll.h>
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

/* One lease statement in flight (stmt_begin, stmt_step): what it sends,
   and how far its retries went. */
struct stmt {
    struct pqx x;
    struct pqx_step r;
    int id;           /* a statement of the set, or -1 for text */
    const char *text; /* when id is -1 */
    const char *then; /* run after it, in the same transaction; NULL: none */
    int n;
    const char *params[7];
    const char *what;
    int begun, restaled, installed;
    long long sent_ms; /* when it was last sent: a lease's deadline counts from it */
    sqllock_status st;
};

/* What a pending lease operation keeps between steps (op->space). */
struct lease_op {
    struct stmt s;
    struct pqx_step joined[3]; /* LISTEN, the bound, the queue key */
    struct queue q;
    char hex[HEXNAME_MAX], pid[24], ttl[24], ttl_min[24], token[24], key[24], timeout[24];
    int how;            /* enum take */
    long long deadline; /* -1: none */
    long long left_ms;  /* the holder's time left, by the last try */
    long long wake_ms;  /* the head's sleep ends */
    int listening, woken;
    long long bound_ms;         /* a row statement's answer is not awaited past it; -1: none */
    int severed;                /* the connection was given up at bound_ms */
    struct sqllock_err outcome; /* kept while the session is tidied */
};

static void stmt_begin(struct stmt *t, int id, const char *text, int n, const char *then,
                       const char *what)
{
    t->id = id;
    t->text = text;
    t->n = n;
    t->then = then;
    t->what = what;
    t->begun = t->restaled = t->installed = 0;
}

/*
 * Steps statement t: 0 while it waits, 1 once it has ended with t->st and
 * t->r. A statement of ours the session lost (DISCARD ALL) is prepared
 * again and sent once more. The tables are created only when they turn out
 * to be missing, so that a role without CREATE uses the tables their owner
 * installed (`sqllock init`), and only on a connection we own: on an
 * attached one a missing table is the caller's to install. Both repairs
 * are rare and block (one PQexec each).
 */
static int stmt_step(sqllock_client *c, struct stmt *t)
{
    for (;;) {
        if (!t->begun) {
            if ((t->st = ready(c, t->what)) != SQLLOCK_OK)
                return 1;
            sqllock_status st = t->then ? sqllock__pqx_begin(&t->x, c, conn_of(c), 0)
                                        : sqllock__pqx_begin_one(&t->x, c, conn_of(c));
            if (st != SQLLOCK_OK) {
                t->st = st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&t->x, t->what) : st;
                return 1;
            }
            sqllock__pqx_nonblocking(&t->x);
            t->sent_ms = sqllock__now_ms();
            if (t->id < 0)
                sqllock__pqx_send_sql(&t->x, t->text, t->n, t->params);
            else
                sqllock__pqx_send(&t->x, &stmts, t->id, t->n, t->params);
            if (t->then)
                sqllock__pqx_send_sql(&t->x, t->then, 0, NULL);
            sqllock__pqx_sync(&t->x);
            t->begun = 1;
        }
        if (!sqllock__pqx_collect(&t->x, &t->r, 1) || !sqllock__pqx_finish(&t->x))
            return 0;
        t->begun = 0;
        if (t->r.ok == 1 && !t->x.failed) {
            t->st = SQLLOCK_OK;
            return 1;
        }
        int missing = strcmp(t->x.sqlstate, "42P01") == 0, stale = sqllock__pqx_stale(&t->x);
        t->st = sqllock__lease_explain(c, sqllock__pqx_fail(&t->x, t->what));
        if (stale && !t->restaled++ &&
            (t->st = sqllock__pq_prepare_all(c, conn_of(c))) == SQLLOCK_OK)
            continue;
        if (missing && c->owns_connection && !t->installed++) {
            if ((t->st = run_schema(c)) == SQLLOCK_OK)
                continue;
            return 1;
        }
        if (missing)
            t->st = sqllock__fail(c, SQLLOCK_ESTATE,
                                  "%s: the lease tables do not exist in this "
                                  "database (or are not on the search_path): run `sqllock init` "
                                  "or sqllock_install_schema() once",
                                  t->what);
        return 1;
    }
}

/* A statement of the blocking calls (run-once markers): the same
   steps, waited for here. */
static sqllock_status run(sqllock_client *c, int stmt, int n, const char *const *params,
                          struct pqx_step *r, const char *what)
{
    struct stmt t;
    stmt_begin(&t, stmt, NULL, n, NULL, what);
    for (int i = 0; i < n; i++)
        t.params[i] = params[i];
    while (!stmt_step(c, &t))
        (void)sqllock__wait(c, &t.x.wait);
    *r = t.r;
    return t.st;
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

/* The stages of a lease operation. */
enum {
    L_START,
    L_TRY,      /* the first try, which takes the row when nobody queues */
    L_JOIN,     /* waiting for the queue key, LISTENing */
    L_HEAD_TRY, /* the head (or a pooled waiter) tries */
    L_RELISTEN, /* a woken head that did not get it listens again... */
    L_LOOK,     /* ...and looks once more before it sleeps */
    L_SLEEP,    /* until a notification, the holder's expiry or the deadline */
    L_LEAVE,    /* after a failure: out of the queue */
    L_UNLISTEN, /* the session as found */
    L_MINE,     /* release or check: one statement on the held row */
};
#define AGAIN ((sqllock_status)100)

/* Sends a try of how, followed by then (NULL: nothing) in its transaction. */
static sqllock_status try_begin(struct sqllock_op *op, struct lease_op *p, enum take how,
                                const char *then, int stage)
{
    static const int stmt[] = {L_ACQUIRE, L_ACQUIRE_UNQUEUED, L_ACQUIRE_HEAD};
    stmt_begin(&p->s, stmt[how], NULL, how == TAKE_PLAIN ? 6 : 7, then, "acquire");
    op->stage = stage;
    return AGAIN;
}

/* The try's verdict: OK with l->token set, or BUSY with p->left_ms the time
   the holder still has by the server's clock (-1 when unknown). */
static sqllock_status took(sqllock_client *c, sqllock_lock *l, struct lease_op *p)
{
    if (p->s.st != SQLLOCK_OK)
        return p->s.st;
    if (p->s.r.value[0][0]) {
        l->token = strtoll(p->s.r.value[0], NULL, 10);
        sqllock__lease_granted(l, p->s.sent_ms, l->ttl_ms);
        return SQLLOCK_OK;
    }
    p->left_ms = p->s.r.value[1][0] ? strtoll(p->s.r.value[1], NULL, 10) : -1;
    return sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lease is held by another owner");
}

static sqllock_status timed_out(sqllock_client *c)
{
    return sqllock__fail(c, SQLLOCK_TIMEOUT, "acquire: timed out waiting for the lease");
}

/* Waits in the queue until this client is its head, listening on the
   lease's channel from then on: LISTEN, the bound and the lock in one
   transaction, so the LISTEN takes effect only for the head. */
static sqllock_status join_begin(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    snprintf(p->timeout, sizeof(p->timeout), "0");
    if (p->deadline >= 0) {
        long long left = p->deadline - sqllock__now_ms();
        if (left <= 0)
            return timed_out(c);
        snprintf(p->timeout, sizeof(p->timeout), "%lldms", left);
    }
    struct pqx *x = &p->s.x;
    sqllock_status st = sqllock__pqx_begin(x, c, conn_of(c), 1);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(x, "acquire") : st;
    sqllock__pqx_nonblocking(x);
    const char *tp = p->timeout, *kp = p->q.key;
    sqllock__pqx_send_sql(x, p->q.listen, 0, NULL);
    sqllock__pqx_send(x, &stmts, L_QUEUE_SET, 1, &tp);
    sqllock__pqx_send(x, &stmts, L_QUEUE_JOIN, 1, &kp);
    sqllock__pqx_sync(x);
    p->listening = 1; /* or its LISTEN is rolled back: UNLISTEN is harmless */
    op->stage = L_JOIN;
    return AGAIN;
}

/* The wait is over with st: leave the session as found (out of the queue
   after a failure, no longer listening), then report st. */
static sqllock_status tidy_begin(sqllock_client *c, struct sqllock_op *op, struct lease_op *p,
                                 sqllock_status st)
{
    if (st == SQLLOCK_OK)
        sqllock__err_clear(c); /* the BUSY of the tries before is over */
    sqllock__err_save(c, &p->outcome);
    p->outcome.status = st;
    if (st != SQLLOCK_OK && sqllock__pq_connected(conn_of(c))) {
        p->s.params[0] = p->q.classid;
        p->s.params[1] = p->q.objid;
        p->s.params[2] = p->q.key;
        stmt_begin(&p->s, L_QUEUE_LEAVE, NULL, 3, NULL, "acquire (leaving the queue)");
        op->stage = L_LEAVE;
        return AGAIN;
    }
    op->stage = L_LEAVE;
    p->s.begun = -1; /* nothing to send */
    return AGAIN;
}

static sqllock_status unlisten_begin(sqllock_client *c, struct sqllock_op *op,
                                     struct lease_op *p)
{
    op->stage = L_UNLISTEN;
    if (!p->listening || !sqllock__pq_connected(conn_of(c))) {
        p->s.begun = -1;
        return AGAIN;
    }
    stmt_begin(&p->s, -1, p->q.unlisten, 0, NULL, "acquire (UNLISTEN)");
    return AGAIN;
}

/* The head's sleep, until the release's notification or the holder's
   expiry, whichever is first (never a fixed interval), bounded by the
   deadline. On a lent connection (or behind a pooler, where a LISTEN stays
   with a server session that is not ours) each sleep is capped, because a
   notification that libpq read during the last statement cannot be seen
   there without consuming it. */
static sqllock_status sleep_begin(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    struct pq_state *s = conn_of(c);
    long long sleep_ms = p->left_ms < 1 ? 1 : p->left_ms;
    if (p->deadline >= 0) {
        long long remaining = p->deadline - sqllock__now_ms();
        if (remaining <= 0)
            return tidy_begin(c, op, p, timed_out(c));
        if (remaining < sleep_ms)
            sleep_ms = remaining;
    }
    if ((!s->owned || s->pooled) && sleep_ms > 200)
        sleep_ms = 200;
    p->wake_ms = sqllock__now_ms() + sleep_ms;
    op->stage = L_SLEEP;
    return AGAIN;
}

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static sqllock_status sleep_step(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    struct pq_state *s = conn_of(c);
    int woke =
        sqllock__now_ms() >= p->wake_ms || sqllock__pq_notified(s, p->q.channel, p->q.payload);
    if (!woke && sqllock__cancel_take(c))
        return tidy_begin(
            c, op, p,
            sqllock__fail(c, SQLLOCK_CANCELED, "acquire: wait canceled by sqllock_cancel()"));
    if (!woke && readable(PQsocket(s->conn))) {
        if (!PQconsumeInput(s->conn))
            return tidy_begin(c, op, p,
                              sqllock__fail(c, SQLLOCK_ECONNECT,
                                            "acquire: the connection to the server was lost "
                                            "while waiting"));
        /* Any input at all on a lent connection: its notifications are
           not ours to read. */
        woke = !s->owned || sqllock__pq_notified(s, p->q.channel, p->q.payload);
    }
    if (woke) {
        p->woken = 1;
        return try_begin(op, p, p->how, p->how == TAKE_HEAD ? p->q.unlisten : NULL, L_HEAD_TRY);
    }
    op->wait = (struct sqllock_wait){.fd = PQsocket(s->conn),
                                     .events = SQLLOCK_EV_READ,
                                     .until_ms = p->wake_ms,
                                     .cancelable = 1};
    return SQLLOCK_PENDING;
}

static sqllock_status start_acquire(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    sqllock_lock *l = op->lock;
    struct lease_pg *lp = lease_of(c);
    uint64_t k = LEASE_QUEUE_KEY(l->ident);
    sqllock__lease_hex(p->hex, l->name, l->name_len);
    snprintf(p->pid, sizeof(p->pid), "%ld", (long)getpid());
    snprintf(p->ttl, sizeof(p->ttl), "%lld", (long long)l->ttl_ms);
    snprintf(p->ttl_min, sizeof(p->ttl_min), "%lld", (long long)l->ttl_min_ms);
    snprintf(p->q.key, sizeof(p->q.key), "%lld", (long long)(int64_t)k);
    const char *params[7] = {p->hex, lp->owner.host, p->pid,  lp->owner.id,
                             p->ttl, p->ttl_min,     p->q.key};
    memcpy(p->s.params, params, sizeof(params));
    p->how = conn_of(c)->pooled ? TAKE_PLAIN : TAKE_UNQUEUED;
    p->listening = p->woken = 0;
    return try_begin(op, p, p->how, NULL, L_TRY);
}

/* The row statement of a release, check or extend: OK when it touched this
   lease, LOST otherwise. */
static sqllock_status start_mine(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    static const struct {
        int stmt, n;
        const char *what;
    } mine[] = {[SQLLOCK_OP_RELEASE] = {L_RELEASE, 5, "release"},
                [SQLLOCK_OP_CHECK] = {L_CHECK, 3, "check"},
                [SQLLOCK_OP_EXTEND] = {L_EXTEND, 4, "extend"}};
    sqllock_lock *l = op->lock;
    sqllock__lease_hex(p->hex, l->name, l->name_len);
    snprintf(p->token, sizeof(p->token), "%lld", (long long)l->token);
    snprintf(p->key, sizeof(p->key), "%016llx", (unsigned long long)l->ident);
    snprintf(p->ttl, sizeof(p->ttl), "%lld", (long long)op->wait_ms);
    snprintf(p->q.key, sizeof(p->q.key), "%lld", (long long)(int64_t)LEASE_QUEUE_KEY(l->ident));
    /* An extend's fourth parameter is its ttl; a release's, the key. */
    const char *params[5] = {p->hex, lease_of(c)->owner.id, p->token,
                             op->kind == SQLLOCK_OP_EXTEND ? p->ttl : p->key, p->q.key};
    memcpy(p->s.params, params, sizeof(params));
    stmt_begin(&p->s, mine[op->kind].stmt, NULL, mine[op->kind].n, NULL, mine[op->kind].what);
    p->bound_ms = -1;
    p->severed = 0;
    op->stage = L_MINE;
    return AGAIN;
}

/*
 * A row statement sent before the lease's deadline is not waited for past
 * it: by then the lease may have expired whatever the answer, and a server
 * that stopped answering (frozen, or cut off by a partition the keepalives
 * have not yet noticed) would keep the caller, or a renewal, blocked long
 * after the holder should have known. The connection is given up then
 * (sqllock__pq_sever: the statement fails as on a broken connection) and
 * the outcome is LOST. 0 while the statement is still awaited.
 */
static int mine_step(sqllock_client *c, struct lease_op *p, const sqllock_lock *l)
{
    if (stmt_step(c, &p->s))
        return 1;
    long long deadline = sqllock_lease_deadline(l), now = sqllock__now_ms();
    if (p->bound_ms < 0 && p->s.sent_ms < deadline && conn_of(c)->owned)
        p->bound_ms = deadline;
    if (p->bound_ms < 0 || now < p->bound_ms || p->severed)
        return 0;
    p->severed = 1;
    sqllock__pq_sever(conn_of(c));
    return stmt_step(c, &p->s);
}

static sqllock_status mine_outcome(sqllock_client *c, const struct stmt *t)
{
    if (t->st != SQLLOCK_OK)
        return t->st;
    if (strcmp(t->r.value[0], "1") == 0 || strcmp(t->r.value[0], "t") == 0)
        return SQLLOCK_OK;
    return sqllock__fail(c, SQLLOCK_LOST,
                         "%s: the lease is no longer ours (it expired, "
                         "and may have been taken by another owner)",
                         t->what);
}

static sqllock_status stage(sqllock_client *c, struct sqllock_op *op, struct lease_op *p)
{
    sqllock_lock *l = op->lock;
    struct stmt *t = &p->s;
    sqllock_status st;
    switch (op->stage) {
    case L_START:
        return op->kind == SQLLOCK_OP_ACQUIRE ? start_acquire(c, op, p) : start_mine(c, op, p);
    case L_TRY:
        if (!stmt_step(c, t))
            return SQLLOCK_PENDING;
        st = took(c, l, p);
        if (st != SQLLOCK_BUSY || op->wait_ms == 0)
            return st;
        if (sqllock__cancel_take(c))
            return sqllock__fail(c, SQLLOCK_CANCELED, "acquire: canceled before the wait began");
        queue_names(&p->q, l);
        p->deadline = op->wait_ms == SQLLOCK_WAIT_FOREVER ? -1 : sqllock__now_ms() + op->wait_ms;
        /* Behind a pooler no session lock or LISTEN of ours lasts past the
           statement: poll, each sleep capped. */
        if (p->how == TAKE_PLAIN)
            return sleep_begin(c, op, p);
        p->how = TAKE_HEAD;
        st = join_begin(c, op, p);
        return st == AGAIN ? st : tidy_begin(c, op, p, st);
    case L_JOIN:
        if (!sqllock__pqx_collect(&t->x, p->joined, 3) || !sqllock__pqx_finish(&t->x))
            return SQLLOCK_PENDING;
        if (p->joined[2].ok == 1 && !t->x.failed)
            return try_begin(op, p, TAKE_HEAD, NULL, L_HEAD_TRY);
        st = sqllock__pqx_fail(&t->x, "acquire");
        return tidy_begin(c, op, p, st == SQLLOCK_TIMEOUT ? timed_out(c) : st);
    case L_HEAD_TRY: {
        if (!stmt_step(c, t))
            return SQLLOCK_PENDING;
        int left = p->how == TAKE_HEAD && p->woken; /* this try left the channel */
        st = took(c, l, p);
        if (left && st != SQLLOCK_ECONNECT)
            p->listening = st != SQLLOCK_OK && st != SQLLOCK_BUSY; /* failed: maybe not left */
        if (st == SQLLOCK_BUSY && left) {
            stmt_begin(t, -1, p->q.listen, 0, NULL, "acquire (LISTEN)");
            op->stage = L_RELISTEN;
            return AGAIN;
        }
        return st == SQLLOCK_BUSY ? sleep_begin(c, op, p) : tidy_begin(c, op, p, st);
    }
    case L_RELISTEN:
        if (!stmt_step(c, t))
            return SQLLOCK_PENDING;
        if (t->st != SQLLOCK_OK)
            return tidy_begin(c, op, p, t->st);
        p->listening = 1;
        return try_begin(op, p, TAKE_HEAD, NULL, L_LOOK);
    case L_LOOK:
        if (!stmt_step(c, t))
            return SQLLOCK_PENDING;
        st = took(c, l, p);
        return st == SQLLOCK_BUSY ? sleep_begin(c, op, p) : tidy_begin(c, op, p, st);
    case L_SLEEP: return sleep_step(c, op, p);
    case L_LEAVE:
        if (t->begun >= 0 && !stmt_step(c, t))
            return SQLLOCK_PENDING;
        return unlisten_begin(c, op, p);
    case L_UNLISTEN:
        if (t->begun >= 0 && !stmt_step(c, t))
            return SQLLOCK_PENDING;
        if (sqllock__pq_connected(conn_of(c)))
            (void)sqllock__pq_notified(conn_of(c), p->q.channel, p->q.payload);
        return sqllock__err_restore(c, &p->outcome);
    case L_MINE:
        if (!mine_step(c, p, l))
            return SQLLOCK_PENDING;
        st = p->severed ? sqllock__fail(c, SQLLOCK_LOST,
                                        "%s: no answer from the server before the lease's "
                                        "deadline, so it may have expired; the connection was "
                                        "given up (the next acquire opens a new one)",
                                        t->what)
                        : mine_outcome(c, t);
        if (st == SQLLOCK_OK && op->kind == SQLLOCK_OP_EXTEND)
            sqllock__lease_granted(l, t->sent_ms, op->wait_ms);
        return op->kind == SQLLOCK_OP_RELEASE ? sqllock__lease_release_outcome(c, st) : st;
    }
    return sqllock__fail(c, SQLLOCK_ESTATE, "internal: unknown lease stage %d", op->stage);
}

static sqllock_status lease_step(sqllock_client *c, struct sqllock_op *op)
{
    struct lease_op *p = op->space;
    sqllock_status st;
    while ((st = stage(c, op, p)) == AGAIN)
        ;
    if (st == SQLLOCK_PENDING && op->stage != L_SLEEP)
        op->wait = p->s.x.wait;
    if (st == SQLLOCK_PENDING && op->stage == L_MINE && p->bound_ms >= 0 &&
        (op->wait.until_ms < 0 || op->wait.until_ms > p->bound_ms))
        op->wait.until_ms = p->bound_ms;
    return st;
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
    .step = lease_step,
    .op_size = sizeof(struct lease_op),
    .extend = NULL,     /* step extends */
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
