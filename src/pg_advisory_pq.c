/* SPDX-License-Identifier: MIT */
/*
 * The pg-advisory backend: PostgreSQL advisory locks over libpq.
 *
 * A try is one statement, and so is a try of a set (sqllock_acquire_all):
 * an int8[] of the keys, given back in the same statement unless all were
 * got. A wait is one pipeline that bounds the wait with
 * lock_timeout and lifts statement_timeout, both set transaction-locally so
 * that the session is left as it was found:
 *
 *   idle session:   set_config(local) ; pg_advisory_lock ; Sync
 *                   (the implicit transaction ends at Sync, and so do the
 *                   settings; the session lock stays)
 *   in transaction: SAVEPOINT ; capture+set_config ; pg_advisory[_xact]_lock ;
 *                   restore the captured settings ; RELEASE SAVEPOINT
 *                   (a failed wait is rolled back to the savepoint, so the
 *                   caller's transaction stays usable)
 *
 * PostgreSQL can grant a lock in the instant its lock_timeout (or a cancel)
 * fires and still raise the error; a session lock granted that way would be
 * held with nobody knowing. So after every failed session-scoped wait we
 * look in pg_locks and unlock what the session holds under that key.
 * Transaction-scoped waits run inside the savepoint, whose rollback releases
 * such a grant by itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sql.h"
#include "pq_int.h"

enum {
    S_TRY,        /* + 2 * scope + mode */
    S_LOCK = 4,   /* + 2 * scope + mode */
    S_UNLOCK = 8, /* + mode */
    S_SET = 10,
    S_CAPTURE,
    S_RESTORE,
    S_SAVEPOINT,
    S_ROLLBACK_TO,
    S_RELEASE_SP,
    S_HELD,
    S_CLEANUP,
    S_PAIR, /* the int4-pair space: S_PAIR + the int8 statement's index */
    S_TRY_ALL = S_PAIR + S_SET + 2, /* + mode */
    S_COUNT = S_TRY_ALL + 2
};
/* The pair space's S_HELD and S_CLEANUP, after its S_TRY..S_UNLOCK. */
#define S_PAIR_HELD (S_PAIR + S_SET)
#define S_PAIR_CLEANUP (S_PAIR + S_SET + 1)

/* "sqllock1_": the 1 changes whenever a statement's text changes, so that
   two library versions attached to one connection do not share names. */
static const char *const stmt_name[S_COUNT] = {
    "sqllock1_try",         "sqllock1_try_shared",
    "sqllock1_xtry",        "sqllock1_xtry_shared",
    "sqllock1_lock",        "sqllock1_lock_shared",
    "sqllock1_xlock",       "sqllock1_xlock_shared",
    "sqllock1_unlock",      "sqllock1_unlock_shared",
    "sqllock1_set",         "sqllock1_capture",
    "sqllock1_restore",     "sqllock1_savepoint",
    "sqllock1_rollback_to", "sqllock1_release_savepoint",
    "sqllock1_held",        "sqllock1_cleanup",
    "sqllock1_ptry",        "sqllock1_ptry_shared",
    "sqllock1_pxtry",       "sqllock1_pxtry_shared",
    "sqllock1_plock",       "sqllock1_plock_shared",
    "sqllock1_pxlock",      "sqllock1_pxlock_shared",
    "sqllock1_punlock",     "sqllock1_punlock_shared",
    "sqllock1_pheld",       "sqllock1_pcleanup",
    "sqllock1_try_all",     "sqllock1_try_all_shared",
};

/* The texts are shared with the ODBC transport (pg_sql.h). */
static const char *const stmt_sql[S_COUNT] = {
    PG_SQL_KEYFN("pg_try_advisory_lock", "$1"),
    PG_SQL_KEYFN("pg_try_advisory_lock_shared", "$1"),
    PG_SQL_KEYFN("pg_try_advisory_xact_lock", "$1"),
    PG_SQL_KEYFN("pg_try_advisory_xact_lock_shared", "$1"),
    PG_SQL_KEYFN("pg_advisory_lock", "$1"),
    PG_SQL_KEYFN("pg_advisory_lock_shared", "$1"),
    PG_SQL_KEYFN("pg_advisory_xact_lock", "$1"),
    PG_SQL_KEYFN("pg_advisory_xact_lock_shared", "$1"),
    PG_SQL_KEYFN("pg_advisory_unlock", "$1"),
    PG_SQL_KEYFN("pg_advisory_unlock_shared", "$1"),
    PG_SQL_SET("$1"),
    PG_SQL_CAPTURE("$1"),
    PG_SQL_RESTORE("$1", "$2"),
    PG_SQL_SAVEPOINT,
    PG_SQL_ROLLBACK_TO,
    PG_SQL_RELEASE_SP,
    PG_SQL_HELD("$1", "$2", "$3", "$3"),
    PG_SQL_CLEANUP("$1", "$2", "$3", "$3", "$4", "$4"),
    PG_SQL_PAIR_LOCKFNS("$1", "$2"),
    PG_SQL_HELD_PAIR("$1", "$2", "$3", "$3"),
    PG_SQL_CLEANUP_PAIR("$1", "$2", "$3", "$3", "$4", "$5", "$4", "$5"),
    PG_SQL_TRY_ALL("pg_try_advisory_lock", "pg_advisory_unlock", "$1"),
    PG_SQL_TRY_ALL("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared", "$1"),
};
static const struct pq_stmts stmts = {stmt_name, stmt_sql, S_COUNT, 1};
_Static_assert(S_COUNT <= PQ_STMT_MAX, "raise PQ_STMT_MAX");

static void send(struct pqx *x, int stmt, int nparams, const char *const *params)
{
    sqllock__pqx_send(x, &stmts, stmt, nparams, params);
}

/* The text forms a lock is sent as: the key (one int8, or an int4 pair in
   key and key2), and pg_locks' view of it; base: 0 for statements of the
   int8 space, S_PAIR for the pair space's. */
struct keytext {
    char key[24], key2[12], classid[12], objid[12];
    const char *mode;
    int nkeys, base;
};

/* v in decimal into buf (21 bytes at most). By hand: three snprintf calls cost a
   third of the client's instructions for an uncontended acquire+release. */
static void decimal(char *buf, int64_t v)
{
    char digits[20];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        digits[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *buf++ = '-';
    while (n)
        *buf++ = digits[--n];
    *buf = '\0';
}

static void keytext(struct keytext *k, const sqllock_lock *l)
{
    k->nkeys = l->space == SQLLOCK_SPACE_PAIR ? 2 : 1;
    k->base = l->space == SQLLOCK_SPACE_PAIR ? S_PAIR : 0;
    if (k->nkeys == 2) {
        decimal(k->key, (int32_t)(uint32_t)(l->ident >> 32));
        decimal(k->key2, (int32_t)(uint32_t)l->ident);
    } else {
        decimal(k->key, (int64_t)l->ident);
    }
    decimal(k->classid, (int64_t)(l->ident >> 32));
    decimal(k->objid, (int64_t)(l->ident & 0xffffffffu));
    k->mode = l->mode == SQLLOCK_SHARED ? "ShareLock" : "ExclusiveLock";
}

static struct pq_state *state(sqllock_client *c)
{
    return c->be_state;
}

static uint64_t pg_ident(const char *name, size_t len)
{
    return sqllock__hashtext64((const unsigned char *)name, len);
}

/* What a pending operation keeps between steps, in the client's op space:
   everything a stage needs when it resumes. */
struct pg_op {
    struct pqx x;
    struct pqx_step r[5];
    struct keytext k;
    char timeout[32];
    /* The one-statement exchange in progress (bool_begin, bool_step). */
    int stmt, nparams, begun, stale_retried, got;
    const char *params[5];
    const char *what;
    sqllock_status st;
    /* After a failed wait: the failure the caller will see once the
       savepoint and any raced grant are undone, and its message. */
    int tries;
    struct sqllock_err failure;
};

/* The stages of an operation: each resumes where the last step stopped. */
enum {
    P_START,
    P_TRY,      /* wait_ms 0: the try's statement */
    P_IDLE,     /* waiting in an idle session: one pipeline */
    P_TXN_HEAD, /* waiting in a transaction: until the settings are captured */
    P_TXN_TAIL, /* ... the rest of that pipeline */
    P_UNDO,     /* rolling back to our savepoint after a failed wait */
    P_ORPHAN,   /* unlocking a grant that raced the failure */
    P_RELEASE,
    P_CHECK,
};

/* A stage's verdict "go on with the stage just set", beside PENDING and
   the outcomes. */
#define AGAIN ((sqllock_status)100)

/* Makes the next one-statement exchange stmt(p->params[0..n)). */
static void bool_begin(struct pg_op *p, int stmt, int n, const char *what)
{
    p->stmt = stmt;
    p->nparams = n;
    p->what = what;
    p->begun = 0;
    p->stale_retried = 0;
}

/*
 * Steps the one-statement exchange: 0 while it waits; 1 once it has ended,
 * with p->st and (OK) p->got, whether the first column was 't'. A statement
 * the session lost (DISCARD ALL) is prepared again and sent once more, but
 * only where the failure cannot have aborted the caller's transaction;
 * inside one, that is the caller's to end.
 */
static int bool_step(sqllock_client *c, struct pg_op *p)
{
    struct pq_state *s = state(c);
    for (;;) {
        if (!p->begun) {
            sqllock_status st = sqllock__pqx_begin_one(&p->x, c, s);
            if (st != SQLLOCK_OK) {
                p->st = st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&p->x, p->what) : st;
                return 1;
            }
            sqllock__pqx_nonblocking(&p->x);
            send(&p->x, p->stmt, p->nparams, p->params);
            sqllock__pqx_sync(&p->x);
            p->begun = 1;
        }
        if (!sqllock__pqx_collect(&p->x, p->r, 1) || !sqllock__pqx_finish(&p->x))
            return 0;
        p->begun = 0;
        if (p->r[0].ok == 1 && !p->x.failed) {
            p->got = p->r[0].value[0][0] == 't';
            p->st = SQLLOCK_OK;
            return 1;
        }
        if (!p->stale_retried++ && sqllock__pqx_stale(&p->x) &&
            sqllock__pq_txn(s) == PQTRANS_IDLE && sqllock__pq_prepare_all(c, s) == SQLLOCK_OK)
            continue;
        p->st = sqllock__pqx_fail(&p->x, p->what);
        return 1;
    }
}

static void format_timeout(char *buf, size_t n, int64_t wait_ms)
{
    if (wait_ms == SQLLOCK_WAIT_FOREVER)
        snprintf(buf, n, "0");
    else
        snprintf(buf, n, "%lldms", (long long)wait_ms);
}

/* Begins a pipeline of the operation (cancelable: it waits): AGAIN, or
   why it cannot be sent. */
static sqllock_status begin(sqllock_client *c, struct pg_op *p, int cancelable)
{
    sqllock_status st = sqllock__pqx_begin(&p->x, c, state(c), cancelable);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&p->x, "acquire") : st;
    sqllock__pqx_nonblocking(&p->x);
    return AGAIN;
}

/* Waiting in an idle session: the pipeline is its own implicit
   transaction, which ends with its settings at the Sync. */
static sqllock_status idle_send(sqllock_client *c, sqllock_lock *l, struct pg_op *p)
{
    struct pqx *x = &p->x;
    sqllock_status st = begin(c, p, 1);
    if (st != AGAIN)
        return st;
    const char *tp = p->timeout;
    send(x, S_SET, 1, &tp);
    send(x, p->k.base + S_LOCK + l->mode, p->k.nkeys, p->params);
    sqllock__pqx_sync(x);
    return AGAIN;
}

/*
 * Waiting inside the caller's transaction. The settings are captured and
 * restored rather than rolled back, because rolling back to the savepoint
 * would also release a transaction-scoped lock. The restore is queued only
 * once the captured values are known (P_TXN_HEAD), behind the waiting
 * statement.
 */
static sqllock_status txn_send(sqllock_client *c, sqllock_lock *l, struct pg_op *p)
{
    struct pqx *x = &p->x;
    sqllock_status st = begin(c, p, 1);
    if (st != AGAIN)
        return st;
    const char *tp = p->timeout;
    send(x, S_SAVEPOINT, 0, NULL);
    send(x, S_CAPTURE, 1, &tp);
    sqllock__pqx_flush_request(x);
    send(x, p->k.base + S_LOCK + 2 * l->scope + l->mode, p->k.nkeys, p->params);
    return AGAIN;
}

static sqllock_status undo_failed(sqllock_client *c, struct pg_op *p, sqllock_status st)
{
    return sqllock__fail(c, st,
                         "acquire: the wait failed (%s) and the transaction "
                         "could not be rolled back to its savepoint",
                         sqllock_status_str(p->failure.status));
}

/* Rolls the caller's transaction back to our savepoint (P_UNDO). */
static sqllock_status undo_send(sqllock_client *c, struct sqllock_op *op, struct pg_op *p)
{
    sqllock_status st = begin(c, p, 0);
    if (st != AGAIN)
        return undo_failed(c, p, st);
    send(&p->x, S_ROLLBACK_TO, 0, NULL);
    send(&p->x, S_RELEASE_SP, 0, NULL);
    sqllock__pqx_sync(&p->x);
    op->stage = P_UNDO;
    return AGAIN;
}

/*
 * After a failed session-scoped wait: unlock the key if the server granted
 * it anyway. Tried a few times because a cancel we sent during the wait may
 * still land on this statement.
 */
static sqllock_status orphan_begin(struct sqllock_op *op, struct pg_op *p)
{
    struct keytext *k = &p->k;
    p->params[0] = k->classid;
    p->params[1] = k->objid;
    p->params[2] = k->mode;
    p->params[3] = k->key;
    p->params[4] = k->key2;
    bool_begin(p, k->base ? S_PAIR_CLEANUP : S_CLEANUP, 3 + k->nkeys, "acquire (cleanup)");
    op->stage = P_ORPHAN;
    return AGAIN;
}

/* The wait failed with st (its message on c): remembered while we clean up. */
static void failed(sqllock_client *c, struct pg_op *p)
{
    sqllock__err_save(c, &p->failure);
    p->tries = 0;
}

/* OK when a lock of this scope can be taken on the connection now. */
static sqllock_status refusal(sqllock_client *c, int scope)
{
    struct pq_state *s = state(c);
    int txn = sqllock__pq_txn(s);
    if (!sqllock__pq_connected(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "acquire: the connection to the server "
                             "is closed or broken");
    if (txn == PQTRANS_INERROR)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: the connection's transaction "
                             "has failed; ROLLBACK first");
    if (txn == PQTRANS_ACTIVE)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: the connection is busy with "
                             "another query");
    if (scope == SQLLOCK_TRANSACTION && txn != PQTRANS_INTRANS)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: transaction scope needs an open "
                             "transaction on the connection (BEGIN first)");
    if (s->pooled && scope == SQLLOCK_SESSION)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: a connection pooler is between "
                             "this client and PostgreSQL (the server's backend pid is not "
                             "the one libpq was given), so a session lock could be left on, "
                             "or lost with, a server session other clients share; take a "
                             "transaction-scoped lock, or connect to PostgreSQL directly");
    return SQLLOCK_OK;
}

static sqllock_status start_acquire(sqllock_client *c, struct sqllock_op *op, struct pg_op *p)
{
    sqllock_lock *l = op->lock;
    sqllock_status st = refusal(c, l->scope);
    if (st != SQLLOCK_OK)
        return st;
    int txn = sqllock__pq_txn(state(c));
    keytext(&p->k, l);
    p->params[0] = p->k.key;
    p->params[1] = p->k.key2;
    p->stale_retried = 0;
    if (op->wait_ms == 0) {
        bool_begin(p, p->k.base + S_TRY + 2 * l->scope + l->mode, p->k.nkeys, "acquire");
        op->stage = P_TRY;
        return AGAIN;
    }
    format_timeout(p->timeout, sizeof(p->timeout), op->wait_ms);
    op->stage = txn == PQTRANS_IDLE ? P_IDLE : P_TXN_HEAD;
    return txn == PQTRANS_IDLE ? idle_send(c, l, p) : txn_send(c, l, p);
}

static sqllock_status start_release(sqllock_client *c, struct sqllock_op *op, struct pg_op *p)
{
    struct pq_state *s = state(c);
    sqllock_lock *l = op->lock;
    if (!sqllock__pq_connected(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the "
                             "lock with it");
    int txn = sqllock__pq_txn(s);
    if (l->scope == SQLLOCK_TRANSACTION) {
        if (txn == PQTRANS_INTRANS || txn == PQTRANS_ACTIVE)
            return SQLLOCK_OK; /* the server releases it at COMMIT or ROLLBACK */
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the transaction that held the lock "
                             "has already ended (or failed)");
    }
    if (txn == PQTRANS_INERROR)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "release: the connection's transaction has "
                             "failed, so nothing can be sent; ROLLBACK, then release again "
                             "(the lock is still held)");
    keytext(&p->k, l);
    p->params[0] = p->k.key;
    p->params[1] = p->k.key2;
    bool_begin(p, p->k.base + S_UNLOCK + l->mode, p->k.nkeys, "release");
    op->stage = P_RELEASE;
    return AGAIN;
}

/* The session's view of a lock: classid, objid and mode (NULL: either). */
static void held_params(struct pg_op *p, const sqllock_lock *l, int any_mode)
{
    keytext(&p->k, l);
    p->params[0] = p->k.classid;
    p->params[1] = p->k.objid;
    p->params[2] = any_mode ? NULL : p->k.mode;
    bool_begin(p, p->k.base ? S_PAIR_HELD : S_HELD, 3, "check");
}

static sqllock_status start_check(sqllock_client *c, struct sqllock_op *op, struct pg_op *p)
{
    struct pq_state *s = state(c);
    sqllock_lock *l = op->lock;
    if (!sqllock__pq_connected(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the connection was lost, and the lock "
                             "with it");
    int txn = sqllock__pq_txn(s);
    if (l->scope == SQLLOCK_TRANSACTION && txn != PQTRANS_INTRANS && txn != PQTRANS_ACTIVE)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the transaction that held the lock has "
                             "ended (or failed)");
    if (txn == PQTRANS_INERROR)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "check: the connection's transaction has "
                             "failed, so nothing can be sent until it ends");
    held_params(p, l, 0);
    op->stage = P_CHECK;
    return AGAIN;
}

/* One stage of op: AGAIN when it set the next, PENDING, or the outcome. */
static sqllock_status stage(sqllock_client *c, struct sqllock_op *op, struct pg_op *p)
{
    sqllock_lock *l = op->lock;
    struct pqx *x = &p->x;
    sqllock_status st;
    switch (op->stage) {
    case P_START:
        return op->kind == SQLLOCK_OP_ACQUIRE   ? start_acquire(c, op, p)
               : op->kind == SQLLOCK_OP_RELEASE ? start_release(c, op, p)
                                                : start_check(c, op, p);
    case P_TRY:
        if (!bool_step(c, p))
            return SQLLOCK_PENDING;
        if (p->st != SQLLOCK_OK || p->got)
            return p->st;
        return sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lock is held by another session");
    case P_IDLE:
        if (!sqllock__pqx_collect(x, p->r, 2) || !sqllock__pqx_finish(x))
            return SQLLOCK_PENDING;
        if (p->r[1].ok == 1 && !x->failed)
            return SQLLOCK_OK;
        if (!p->stale_retried++ && sqllock__pqx_stale(x) &&
            sqllock__pq_prepare_all(c, state(c)) == SQLLOCK_OK)
            return idle_send(c, l, p);
        st = sqllock__pqx_fail(x, "acquire");
        if (x->broken)
            return st;
        failed(c, p);
        return orphan_begin(op, p);
    case P_TXN_HEAD:
        if (!sqllock__pqx_collect(x, p->r, 2))
            return SQLLOCK_PENDING;
        if (p->r[1].ok == 1) {
            send(x, S_RESTORE, 2, (const char *const[]){p->r[1].value[0], p->r[1].value[1]});
            send(x, S_RELEASE_SP, 0, NULL);
        }
        sqllock__pqx_sync(x);
        op->stage = P_TXN_TAIL;
        return AGAIN;
    case P_TXN_TAIL:
        if (!sqllock__pqx_collect(x, p->r, p->r[1].ok == 1 ? 5 : 3) || !sqllock__pqx_finish(x))
            return SQLLOCK_PENDING;
        if (!x->failed)
            return SQLLOCK_OK;
        st = sqllock__pqx_fail(x, "acquire");
        if (x->broken || p->r[0].ok != 1)
            return st; /* no savepoint of ours to return to */
        failed(c, p);
        return undo_send(c, op, p);
    case P_UNDO:
        if (!sqllock__pqx_collect(x, p->r, 2) || !sqllock__pqx_finish(x))
            return SQLLOCK_PENDING;
        if (!x->failed) {
            if (l->scope == SQLLOCK_SESSION)
                return orphan_begin(op, p);
            return sqllock__err_restore(c, &p->failure);
        }
        if (!x->broken && ++p->tries < 3)
            return undo_send(c, op, p);
        return undo_failed(c, p, x->broken ? SQLLOCK_ECONNECT : SQLLOCK_ESERVER);
    case P_ORPHAN:
        if (!bool_step(c, p))
            return SQLLOCK_PENDING;
        /* A dead session holds nothing. */
        if (p->st == SQLLOCK_OK || p->st == SQLLOCK_ECONNECT)
            return sqllock__err_restore(c, &p->failure);
        if (++p->tries < 3)
            return orphan_begin(op, p);
        return p->st;
    case P_RELEASE:
    case P_CHECK:
        if (!bool_step(c, p))
            return SQLLOCK_PENDING;
        if (p->st == SQLLOCK_ECONNECT)
            return sqllock__fail(c, SQLLOCK_LOST,
                                 "%s: the connection was lost, and the lock with it", p->what);
        if (p->st == SQLLOCK_OK && !p->got)
            return sqllock__fail(c, SQLLOCK_LOST,
                                 "%s: the server says this session no longer holds the lock",
                                 p->what);
        return p->st;
    }
    return sqllock__fail(c, SQLLOCK_ESTATE, "internal: unknown stage %d", op->stage);
}

static sqllock_status pg_step(sqllock_client *c, struct sqllock_op *op)
{
    struct pg_op *p = op->space;
    sqllock_status st;
    while ((st = stage(c, op, p)) == AGAIN)
        ;
    if (st == SQLLOCK_PENDING)
        op->wait = p->x.wait;
    return st;
}

static int pg_still_held(sqllock_client *c, const sqllock_lock *e)
{
    struct pq_state *s = state(c);
    int txn = sqllock__pq_txn(s);
    if (!sqllock__pq_connected(s))
        return 0;
    if (e->kind != SQLLOCK_ENTRY_FOREIGN && e->scope == SQLLOCK_TRANSACTION &&
        txn != PQTRANS_INTRANS)
        return 0;
    if (txn != PQTRANS_IDLE && txn != PQTRANS_INTRANS)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: the connection's transaction has "
                             "failed or is busy");
    struct pg_op p;
    held_params(&p, e, 1);
    p.what = "acquire";
    while (!bool_step(c, &p))
        (void)sqllock__wait(c, &p.x.wait);
    return p.st == SQLLOCK_OK ? p.got : (int)p.st;
}
/* The set's keys as an int8[] literal, one statement tries them all. */
static sqllock_status pg_try_all(sqllock_client *c, sqllock_lock *const *ls, size_t n)
{
    sqllock_status st = refusal(c, SQLLOCK_SESSION);
    if (st != SQLLOCK_OK)
        return st;
    char *keys = sqllock__keys_array(ls, n);
    if (!keys)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire_all: out of memory");
    struct pg_op p;
    p.params[0] = keys;
    bool_begin(&p, S_TRY_ALL + ls[0]->mode, 1, "acquire_all");
    while (!bool_step(c, &p))
        (void)sqllock__wait(c, &p.x.wait);
    free(keys);
    if (p.st != SQLLOCK_OK || p.got)
        return p.st;
    return sqllock__fail(c, SQLLOCK_BUSY,
                         "acquire_all: at least one of the %zu locks is held by another "
                         "session (none was taken)",
                         n);
}

static int pg_in_transaction(sqllock_client *c)
{
    int txn = sqllock__pq_txn(state(c));
    return txn == PQTRANS_INTRANS || txn == PQTRANS_INERROR || txn == PQTRANS_ACTIVE;
}

static sqllock_status add_held(void *c, const char *const *v, int n)
{
    (void)n;
    long long key = strtoll(v[0], NULL, 10);
    int pair = strcmp(v[1], "2") == 0;
    return sqllock__add_foreign(c, (uint64_t)key,
                                pair ? SQLLOCK_SPACE_PAIR : SQLLOCK_SPACE_INT8);
}

sqllock_status sqllock__pg_snapshot_held(sqllock_client *c, struct pq_state *s)
{
    sqllock_status st = sqllock__pq_each_row(c, s, PG_SQL_SNAPSHOT, add_held, c,
                                             "attach: reading pg_locks failed");
    if (st == SQLLOCK_ENOMEM)
        return sqllock__fail(c, st, "attach: out of memory");
    return st;
}

static const struct sqllock_backend pg_advisory = {
    .name = "pg-advisory",
    .caps = SQLLOCK_CAP_SESSION | SQLLOCK_CAP_NUMERIC_KEYS | SQLLOCK_CAP_SHARED |
            SQLLOCK_CAP_TRANSACTION,
    .ident = pg_ident,
    .extend = NULL,
    .step = pg_step,
    .op_size = sizeof(struct pg_op),
    .still_held = pg_still_held,
    .in_transaction = pg_in_transaction,
    .close = NULL, /* its state is the connection, which is the client's */
    .abandon = NULL,
    .try_all = pg_try_all,
};

void sqllock__pg_advisory_install(sqllock_client *c, struct pq_state *s)
{
    sqllock__pq_register(s, &stmts);
    c->be = &pg_advisory;
    c->be_state = s;
}
