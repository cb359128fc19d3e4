/* SPDX-License-Identifier: MIT */
/*
 * The pg-advisory backend: PostgreSQL advisory locks over libpq.
 *
 * A try is one statement. A wait is one pipeline that bounds the wait with
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
    S_COUNT = S_PAIR + S_SET + 2
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

/* One statement, one row, the first column: 1 for 't', 0 for 'f'. */
static sqllock_status run_bool(sqllock_client *c, int stmt, int n, const char *const *params,
                               int *result, const char *what)
{
    struct pq_state *s = state(c);
    for (int attempt = 0;; attempt++) {
        struct pqx x;
        struct pqx_step r;
        sqllock_status st = sqllock__pqx_begin_one(&x, c, s);
        if (st != SQLLOCK_OK)
            return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, what) : st;
        send(&x, stmt, n, params);
        sqllock__pqx_sync(&x);
        sqllock__pqx_read(&x, &r);
        sqllock__pqx_end(&x);
        if (r.ok == 1 && !x.failed) {
            *result = r.value[0][0] == 't';
            return SQLLOCK_OK;
        }
        /* Re-prepare only where the failure cannot have aborted the
           caller's transaction; inside one, that is the caller's to end. */
        if (attempt == 0 && sqllock__pqx_stale(&x) && sqllock__pq_txn(s) == PQTRANS_IDLE &&
            sqllock__pq_prepare_all(c, s) == SQLLOCK_OK)
            continue;
        return sqllock__pqx_fail(&x, what);
    }
}

/*
 * After a failed session-scoped wait: unlock the key if the server granted
 * it anyway. Tried a few times because a cancel we sent during the wait may
 * still land on this statement.
 */
static sqllock_status unlock_orphan(sqllock_client *c, const struct keytext *k)
{
    const char *params[5] = {k->classid, k->objid, k->mode, k->key, k->key2};
    int stmt = k->base ? S_PAIR_CLEANUP : S_CLEANUP;
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        int ignored;
        st = run_bool(c, stmt, 3 + k->nkeys, params, &ignored, "acquire (cleanup)");
        if (st == SQLLOCK_OK || st == SQLLOCK_ECONNECT)
            return SQLLOCK_OK; /* a dead session holds nothing */
    }
    return st;
}

static void format_timeout(char *buf, size_t n, int64_t wait_ms)
{
    if (wait_ms == SQLLOCK_WAIT_FOREVER)
        snprintf(buf, n, "0");
    else
        snprintf(buf, n, "%lldms", (long long)wait_ms);
}

static sqllock_status try_lock(sqllock_client *c, sqllock_lock *l, const struct keytext *k)
{
    const char *params[2] = {k->key, k->key2};
    int got;
    sqllock_status st =
        run_bool(c, k->base + S_TRY + 2 * l->scope + l->mode, k->nkeys, params, &got, "acquire");
    if (st != SQLLOCK_OK)
        return st;
    if (!got)
        return sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lock is held by another session");
    return SQLLOCK_OK;
}

/* Waiting in an idle session: the pipeline is its own implicit transaction. */
static sqllock_status wait_idle(sqllock_client *c, sqllock_lock *l, const struct keytext *k,
                                const char *timeout)
{
    struct pq_state *s = state(c);
    for (int attempt = 0;; attempt++) {
        struct pqx x;
        struct pqx_step set, lock;
        sqllock_status st = sqllock__pqx_begin(&x, c, s, 1);
        if (st != SQLLOCK_OK)
            return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, "acquire") : st;
        send(&x, S_SET, 1, &timeout);
        send(&x, k->base + S_LOCK + l->mode, k->nkeys, (const char *const[]){k->key, k->key2});
        sqllock__pqx_sync(&x);
        sqllock__pqx_read(&x, &set);
        sqllock__pqx_read(&x, &lock);
        sqllock__pqx_end(&x);
        if (lock.ok == 1 && !x.failed)
            return SQLLOCK_OK;
        if (attempt == 0 && sqllock__pqx_stale(&x) &&
            sqllock__pq_prepare_all(c, s) == SQLLOCK_OK)
            continue;
        st = sqllock__pqx_fail(&x, "acquire");
        if (x.broken)
            return st;
        sqllock_status cleanup = unlock_orphan(c, k);
        return cleanup == SQLLOCK_OK ? st : cleanup;
    }
}

/* Rolls the caller's transaction back to our savepoint after a failure. */
static sqllock_status undo_savepoint(sqllock_client *c)
{
    struct pqx x;
    struct pqx_step a, b;
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        st = sqllock__pqx_begin(&x, c, state(c), 0);
        if (st != SQLLOCK_OK)
            return st;
        send(&x, S_ROLLBACK_TO, 0, NULL);
        send(&x, S_RELEASE_SP, 0, NULL);
        sqllock__pqx_sync(&x);
        sqllock__pqx_read(&x, &a);
        sqllock__pqx_read(&x, &b);
        sqllock__pqx_end(&x);
        if (!x.failed)
            return SQLLOCK_OK;
        if (x.broken)
            return SQLLOCK_ECONNECT;
    }
    return SQLLOCK_ESERVER;
}

/*
 * Waiting inside the caller's transaction. The settings are captured and
 * restored rather than rolled back, because rolling back to the savepoint
 * would also release a transaction-scoped lock. The restore is queued only
 * once the captured values are known, behind the waiting statement.
 */
static sqllock_status wait_in_txn(sqllock_client *c, sqllock_lock *l, const struct keytext *k,
                                  const char *timeout)
{
    struct pq_state *s = state(c);
    struct pqx x;
    struct pqx_step sp, cap, lock, restore, rel;
    sqllock_status st = sqllock__pqx_begin(&x, c, s, 1);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, "acquire") : st;
    send(&x, S_SAVEPOINT, 0, NULL);
    send(&x, S_CAPTURE, 1, &timeout);
    sqllock__pqx_flush_request(&x);
    send(&x, k->base + S_LOCK + 2 * l->scope + l->mode, k->nkeys,
         (const char *const[]){k->key, k->key2});
    sqllock__pqx_read(&x, &sp);
    sqllock__pqx_read(&x, &cap);
    if (cap.ok == 1) {
        send(&x, S_RESTORE, 2, (const char *const[]){cap.value[0], cap.value[1]});
        send(&x, S_RELEASE_SP, 0, NULL);
    }
    sqllock__pqx_sync(&x);
    sqllock__pqx_read(&x, &lock);
    if (cap.ok == 1) {
        sqllock__pqx_read(&x, &restore);
        sqllock__pqx_read(&x, &rel);
    }
    sqllock__pqx_end(&x);
    if (!x.failed)
        return SQLLOCK_OK;

    st = sqllock__pqx_fail(&x, "acquire");
    if (x.broken || sp.ok != 1)
        return st; /* no savepoint of ours to return to */
    sqllock_status undo = undo_savepoint(c);
    if (undo != SQLLOCK_OK)
        return sqllock__fail(c, undo,
                             "acquire: the wait failed (%s) and the transaction "
                             "could not be rolled back to its savepoint",
                             sqllock_status_str(st));
    if (l->scope == SQLLOCK_SESSION) {
        sqllock_status cleanup = unlock_orphan(c, k);
        if (cleanup != SQLLOCK_OK)
            return cleanup;
    }
    return st;
}

static sqllock_status pg_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
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
    if (l->scope == SQLLOCK_TRANSACTION && txn != PQTRANS_INTRANS)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: transaction scope needs an open "
                             "transaction on the connection (BEGIN first)");
    if (s->pooled && l->scope == SQLLOCK_SESSION)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: a connection pooler is between "
                             "this client and PostgreSQL (the server's backend pid is not "
                             "the one libpq was given), so a session lock could be left on, "
                             "or lost with, a server session other clients share; take a "
                             "transaction-scoped lock, or connect to PostgreSQL directly");
    struct keytext k;
    keytext(&k, l);
    if (wait_ms == 0)
        return try_lock(c, l, &k);
    char timeout[32];
    format_timeout(timeout, sizeof(timeout), wait_ms);
    return txn == PQTRANS_IDLE ? wait_idle(c, l, &k, timeout) : wait_in_txn(c, l, &k, timeout);
}

static sqllock_status pg_release(sqllock_client *c, sqllock_lock *l)
{
    struct pq_state *s = state(c);
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
    struct keytext k;
    keytext(&k, l);
    int was_held;
    sqllock_status st = run_bool(c, k.base + S_UNLOCK + l->mode, k.nkeys,
                                 (const char *const[]){k.key, k.key2}, &was_held, "release");
    if (st == SQLLOCK_ECONNECT)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the "
                             "lock with it");
    if (st == SQLLOCK_OK && !was_held)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the server says this session no "
                             "longer held the lock");
    return st;
}

static sqllock_status pg_check(sqllock_client *c, sqllock_lock *l)
{
    struct pq_state *s = state(c);
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
    struct keytext k;
    keytext(&k, l);
    int held;
    sqllock_status st =
        run_bool(c, k.base ? S_PAIR_HELD : S_HELD, 3,
                 (const char *const[]){k.classid, k.objid, k.mode}, &held, "check");
    if (st == SQLLOCK_ECONNECT)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the connection was lost, and the lock "
                             "with it");
    if (st == SQLLOCK_OK && !held)
        return sqllock__fail(c, SQLLOCK_LOST, "check: the session no longer holds the lock");
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
    struct keytext k;
    keytext(&k, e);
    int held;
    sqllock_status st =
        run_bool(c, k.base ? S_PAIR_HELD : S_HELD, 3,
                 (const char *const[]){k.classid, k.objid, NULL}, &held, "acquire");
    return st == SQLLOCK_OK ? held : (int)st;
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
    .acquire = pg_acquire,
    .release = pg_release,
    .check = pg_check,
    .extend = NULL,
    .still_held = pg_still_held,
    .in_transaction = pg_in_transaction,
    .close = NULL, /* its state is the connection, which is the client's */
    .abandon = NULL,
};

void sqllock__pg_advisory_install(sqllock_client *c, struct pq_state *s)
{
    sqllock__pq_register(s, &stmts);
    c->be = &pg_advisory;
    c->be_state = s;
}
