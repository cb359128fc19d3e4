/* SPDX-License-Identifier: MIT */
/*
 * The pg-advisory backend over ODBC (psqlODBC): the same advisory locks,
 * name -> key rule and statements (pg_sql.h) as over libpq, so an ODBC
 * client and a libpq client exclude each other by name.
 *
 * ODBC has no pipeline, so a wait is a few statements:
 *   autocommit on:  autocommit off ; set_config(local) ; pg_advisory_lock ;
 *                   COMMIT (or ROLLBACK) ; autocommit on
 *                   (the settings end with that transaction; a session lock
 *                   outlives it)
 *   autocommit off: capture+set_config ; pg_advisory[_xact]_lock ;
 *                   restore the captured settings
 *                   (psqlODBC's statement-level rollback, its default, rolls
 *                   a failed wait back to a savepoint of the driver's own,
 *                   so the caller's transaction stays usable; with the
 *                   driver's "transaction" or "nop" rollback levels a failed
 *                   wait ends or aborts it, as any failed statement would)
 * After a failed session-scoped wait, a grant that raced the timeout or
 * cancel is found in pg_locks and unlocked, as over libpq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odbc_int.h"
#include "pg_sql.h"

enum {
    O_TRY,        /* + 2 * scope + mode */
    O_LOCK = 4,   /* + 2 * scope + mode */
    O_UNLOCK = 8, /* + mode */
    O_SET = 10,
    O_CAPTURE,
    O_RESTORE,
    O_HELD,
    O_CLEANUP,
    O_SNAPSHOT,
    O_RECOVERY,
    O_PAIR, /* the int4-pair space: O_PAIR + the int8 statement's index */
    O_TRY_ALL = O_PAIR + O_SET + 2, /* + mode */
    O_COUNT = O_TRY_ALL + 2
};
/* The pair space's O_HELD and O_CLEANUP, after its O_TRY..O_UNLOCK. */
#define O_PAIR_HELD (O_PAIR + O_SET)
#define O_PAIR_CLEANUP (O_PAIR + O_SET + 1)
_Static_assert(O_COUNT <= ODBC_STMT_MAX, "raise ODBC_STMT_MAX");

static const char *const sql[O_COUNT] = {
    PG_SQL_KEYFN("pg_try_advisory_lock", "?"),
    PG_SQL_KEYFN("pg_try_advisory_lock_shared", "?"),
    PG_SQL_KEYFN("pg_try_advisory_xact_lock", "?"),
    PG_SQL_KEYFN("pg_try_advisory_xact_lock_shared", "?"),
    PG_SQL_KEYFN("pg_advisory_lock", "?"),
    PG_SQL_KEYFN("pg_advisory_lock_shared", "?"),
    PG_SQL_KEYFN("pg_advisory_xact_lock", "?"),
    PG_SQL_KEYFN("pg_advisory_xact_lock_shared", "?"),
    PG_SQL_KEYFN("pg_advisory_unlock", "?"),
    PG_SQL_KEYFN("pg_advisory_unlock_shared", "?"),
    PG_SQL_SET("?"),
    PG_SQL_CAPTURE("?"),
    PG_SQL_RESTORE("?", "?"),
    PG_SQL_HELD("?", "?", "?", "?"),
    PG_SQL_CLEANUP("?", "?", "?", "?", "?", "?"),
    PG_SQL_SNAPSHOT,
    PG_SQL_IN_RECOVERY,
    PG_SQL_PAIR_LOCKFNS("?", "?"),
    PG_SQL_HELD_PAIR("?", "?", "?", "?"),
    PG_SQL_CLEANUP_PAIR("?", "?", "?", "?", "?", "?", "?", "?"),
    PG_SQL_TRY_ALL("pg_try_advisory_lock", "pg_advisory_unlock", "?"),
    PG_SQL_TRY_ALL("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared", "?"),
};

#define VAL_MAX 64

/* One bound parameter: a key (int8) or text (NULL for SQL NULL). */
struct arg {
    int is_key;
    int64_t key;
    const char *text;
};

/* A lock as it is bound: the int8 key, or (base O_PAIR) the int4 pair as
   text in a and b; and pg_locks' view of it. */
struct keytext {
    int64_t key;
    char a[12], b[12], classid[12], objid[12];
    const char *mode;
    int base;
};

/* The key arguments of statement base + i: one int8, or the pair. */
static int key_args(struct arg *args, const struct keytext *k)
{
    if (!k->base) {
        args[0] = (struct arg){1, k->key, NULL};
        return 1;
    }
    args[0] = (struct arg){0, 0, k->a};
    args[1] = (struct arg){0, 0, k->b};
    return 2;
}

static void keytext(struct keytext *k, const sqllock_lock *l)
{
    k->key = (int64_t)l->ident;
    k->base = l->space == SQLLOCK_SPACE_PAIR ? O_PAIR : 0;
    snprintf(k->a, sizeof(k->a), "%d", (int)(int32_t)(uint32_t)(l->ident >> 32));
    snprintf(k->b, sizeof(k->b), "%d", (int)(int32_t)(uint32_t)l->ident);
    snprintf(k->classid, sizeof(k->classid), "%u", (unsigned)(l->ident >> 32));
    snprintf(k->objid, sizeof(k->objid), "%u", (unsigned)(l->ident & 0xffffffffu));
    k->mode = l->mode == SQLLOCK_SHARED ? "ShareLock" : "ExclusiveLock";
}

static struct odbc_state *state(sqllock_client *c)
{
    return c->be_state;
}

static uint64_t pg_ident(const char *name, size_t len)
{
    return sqllock__hashtext64((const unsigned char *)name, len);
}

/*
 * Runs statement i with args and reads up to nvals columns of its first
 * row as text. OK, or the failure's status with c's message set; *canceled
 * says whether sqllock_cancel() was seen during a cancelable run.
 */
static sqllock_status run(sqllock_client *c, int i, const struct arg *args, int nargs,
                          char (*vals)[VAL_MAX], int nvals, int cancelable, int *canceled,
                          const char *what)
{
    struct odbc_state *s = state(c);
    int ignored;
    if (!canceled)
        canceled = &ignored;
    *canceled = 0;
    SQLHSTMT st = sqllock__odbc_stmt(c, s, i, sql[i]);
    if (!st)
        return c->last_status;
    SQLLEN ind[8];
    SQLRETURN r = SQL_SUCCESS;
    for (int a = 0; a < nargs && SQL_SUCCEEDED(r); a++)
        r = args[a].is_key ? sqllock__odbc_bind_i64(st, a + 1, &args[a].key, &ind[a])
                           : sqllock__odbc_bind_text(st, a + 1, args[a].text, &ind[a]);
    if (SQL_SUCCEEDED(r))
        r = sqllock__odbc_execute(c, s, st, cancelable, canceled);
    if (SQL_SUCCEEDED(r) && nvals > 0) {
        r = SQLFetch(st);
        for (int v = 0; v < nvals && SQL_SUCCEEDED(r); v++) {
            SQLLEN len = 0;
            r = SQLGetData(st, (SQLUSMALLINT)(v + 1), SQL_C_CHAR, vals[v], VAL_MAX, &len);
            if (SQL_SUCCEEDED(r) && len == SQL_NULL_DATA)
                vals[v][0] = '\0';
        }
    }
    sqllock_status result = SQLLOCK_OK;
    if (!SQL_SUCCEEDED(r))
        result = r == SQL_NO_DATA
                     ? sqllock__fail(c, SQLLOCK_ESERVER, "%s: the server returned no row", what)
                     : sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st, what, *canceled);
    sqllock__odbc_reset(st);
    return result;
}

/* psqlODBC shows booleans as 1/0 (BoolsAsChar) or t/f. */
static int truth(const char *v)
{
    return v[0] == '1' || v[0] == 't';
}

static sqllock_status run_bool(sqllock_client *c, int i, const struct arg *args, int nargs,
                               int *result, const char *what)
{
    char v[1][VAL_MAX] = {""};
    sqllock_status st = run(c, i, args, nargs, v, 1, 0, NULL, what);
    *result = st == SQLLOCK_OK && truth(v[0]);
    return st;
}

/* Unlocks the key if the server granted it anyway; see pg_advisory_pq.c. */
static sqllock_status unlock_orphan(sqllock_client *c, const struct keytext *k)
{
    /* In the order the markers appear in the text (pg_sql.h): m, the key
       twice, cls, obj, m2. */
    struct arg args[8];
    int n = 0;
    args[n++] = (struct arg){0, 0, k->mode};
    n += key_args(args + n, k);
    n += key_args(args + n, k);
    args[n++] = (struct arg){0, 0, k->classid};
    args[n++] = (struct arg){0, 0, k->objid};
    args[n++] = (struct arg){0, 0, k->mode};
    int stmt = k->base ? O_PAIR_CLEANUP : O_CLEANUP;
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        char v[1][VAL_MAX];
        st = run(c, stmt, args, n, v, 0, 0, NULL, "acquire (cleanup)");
        if (st == SQLLOCK_OK || st == SQLLOCK_ECONNECT)
            return SQLLOCK_OK; /* a dead session holds nothing */
    }
    return st;
}

static sqllock_status set_autocommit(sqllock_client *c, struct odbc_state *s, int on)
{
    SQLRETURN r =
        SQLSetConnectAttr(s->dbc, SQL_ATTR_AUTOCOMMIT,
                          (SQLPOINTER)(SQLULEN)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF), 0);
    return SQL_SUCCEEDED(r)
               ? SQLLOCK_OK
               : sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, "acquire (autocommit)", 0);
}

/* Waiting with autocommit on: a transaction of our own bounds the settings. */
static sqllock_status wait_idle(sqllock_client *c, sqllock_lock *l, const struct keytext *k,
                                const char *timeout)
{
    struct odbc_state *s = state(c);
    sqllock_status st = set_autocommit(c, s, 0);
    if (st != SQLLOCK_OK)
        return st;
    const struct arg targ = {0, 0, timeout};
    struct arg kargs[2];
    int nk = key_args(kargs, k);
    char v[2][VAL_MAX];
    st = run(c, O_SET, &targ, 1, v, 0, 0, NULL, "acquire");
    if (st == SQLLOCK_OK)
        st = run(c, k->base + O_LOCK + l->mode, kargs, nk, v, 0, 1, NULL, "acquire");
    struct sqllock_err sv;
    sqllock__err_save(c, &sv);
    SQLRETURN end = sqllock__odbc_end_tran(s, st == SQLLOCK_OK ? SQL_COMMIT : SQL_ROLLBACK);
    sqllock_status on = set_autocommit(c, s, 1);
    if (st == SQLLOCK_OK && (!SQL_SUCCEEDED(end) || on != SQLLOCK_OK)) {
        /* The lock was granted but the session could not be put back. */
        sqllock_status fail =
            SQL_SUCCEEDED(end)
                ? on
                : sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, "acquire (commit)", 0);
        (void)unlock_orphan(c, k);
        return fail;
    }
    if (st == SQLLOCK_OK)
        return SQLLOCK_OK;
    if (st != SQLLOCK_ECONNECT) {
        sqllock_status cleanup = unlock_orphan(c, k);
        if (cleanup != SQLLOCK_OK)
            return cleanup;
    }
    return sqllock__err_restore(c, &sv);
}

/* Puts the captured settings back, a few times: a cancel sent during the
   wait may still land on this statement. */
static sqllock_status restore_settings(sqllock_client *c, char (*v)[VAL_MAX])
{
    const struct arg back[2] = {{0, 0, v[0]}, {0, 0, v[1]}};
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        st = run(c, O_RESTORE, back, 2, NULL, 0, 0, NULL, "acquire (restore settings)");
        if (st == SQLLOCK_OK || st == SQLLOCK_ECONNECT)
            return st;
    }
    return st;
}

/*
 * Waiting inside the caller's transaction (autocommit off). psqlODBC runs
 * each statement of a transaction inside a savepoint of its own and rolls
 * back to it when the statement fails (its default "statement" rollback
 * level), so a failed wait leaves the transaction usable by itself. A
 * savepoint of ours would break that bookkeeping: releasing it releases the
 * driver's too. The settings are captured and restored on every path.
 */
static sqllock_status wait_in_txn(sqllock_client *c, sqllock_lock *l, const struct keytext *k,
                                  const char *timeout)
{
    char v[2][VAL_MAX];
    const struct arg targ = {0, 0, timeout};
    struct arg kargs[2];
    int nk = key_args(kargs, k);
    sqllock_status st = run(c, O_CAPTURE, &targ, 1, v, 2, 0, NULL, "acquire");
    if (st != SQLLOCK_OK)
        return st;
    st = run(c, k->base + O_LOCK + 2 * l->scope + l->mode, kargs, nk, NULL, 0, 1, NULL,
             "acquire");
    struct sqllock_err sv;
    sqllock__err_save(c, &sv);
    if (st == SQLLOCK_ECONNECT)
        return st;
    sqllock_status back = restore_settings(c, v);
    if (back != SQLLOCK_OK) {
        if (st == SQLLOCK_OK && l->scope == SQLLOCK_SESSION)
            (void)unlock_orphan(c, k);
        return st == SQLLOCK_OK ? back
                                : sqllock__fail(c, back,
                                                "acquire: the wait failed (%s) and the "
                                                "session's settings could not be restored: %s",
                                                sqllock_status_str(st), c->errmsg);
    }
    if (st == SQLLOCK_OK)
        return SQLLOCK_OK;
    if (l->scope == SQLLOCK_SESSION) {
        sqllock_status cleanup = unlock_orphan(c, k);
        if (cleanup != SQLLOCK_OK)
            return cleanup;
    }
    return sqllock__err_restore(c, &sv);
}

static sqllock_status po_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    struct odbc_state *s = state(c);
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "acquire: the connection to the server is "
                             "closed or broken");
    int ac = sqllock__odbc_autocommit(s);
    if (l->scope == SQLLOCK_TRANSACTION && ac)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: transaction scope needs an open "
                             "transaction (autocommit off on the connection)");
    struct keytext k;
    keytext(&k, l);
    if (wait_ms == 0) {
        struct arg kargs[2];
        int nk = key_args(kargs, &k);
        int got;
        sqllock_status st =
            run_bool(c, k.base + O_TRY + 2 * l->scope + l->mode, kargs, nk, &got, "acquire");
        if (st == SQLLOCK_OK && !got)
            return sqllock__fail(c, SQLLOCK_BUSY,
                                 "acquire: the lock is held by another session");
        return st;
    }
    char timeout[32];
    if (wait_ms == SQLLOCK_WAIT_FOREVER)
        snprintf(timeout, sizeof(timeout), "0");
    else
        snprintf(timeout, sizeof(timeout), "%lldms", (long long)wait_ms);
    return ac ? wait_idle(c, l, &k, timeout) : wait_in_txn(c, l, &k, timeout);
}

/* A try of the set in one statement, as over libpq (pg_sql.h). */
static sqllock_status po_try_all(sqllock_client *c, sqllock_lock *const *ls, size_t n)
{
    if (sqllock__odbc_dead(state(c)))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "acquire: the connection to the server is "
                             "closed or broken");
    char *keys = sqllock__keys_array(ls, n);
    if (!keys)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire_all: out of memory");
    struct arg a = {0, 0, keys};
    int got;
    sqllock_status st = run_bool(c, O_TRY_ALL + ls[0]->mode, &a, 1, &got, "acquire_all");
    free(keys);
    if (st == SQLLOCK_OK && !got)
        return sqllock__fail(c, SQLLOCK_BUSY,
                             "acquire_all: at least one of the %zu locks is held by another "
                             "session (none was taken)",
                             n);
    return st;
}

/* Whether the session holds l (in its mode, or any mode when any_mode). */
static int held(sqllock_client *c, const sqllock_lock *l, int any_mode, const char *what)
{
    struct keytext k;
    keytext(&k, l);
    const char *m = any_mode ? NULL : k.mode;
    const struct arg args[4] = {{0, 0, k.classid}, {0, 0, k.objid}, {0, 0, m}, {0, 0, m}};
    int yes;
    sqllock_status st = run_bool(c, k.base ? O_PAIR_HELD : O_HELD, args, 4, &yes, what);
    return st == SQLLOCK_OK ? yes : (int)st;
}

static sqllock_status po_release(sqllock_client *c, sqllock_lock *l)
{
    struct odbc_state *s = state(c);
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the lock "
                             "with it");
    if (l->scope == SQLLOCK_TRANSACTION) {
        int h = sqllock__odbc_autocommit(s) ? 0 : held(c, l, 0, "release");
        if (h < 0)
            return (sqllock_status)h;
        return h ? SQLLOCK_OK /* the server releases it when the transaction ends */
                 : sqllock__fail(c, SQLLOCK_LOST,
                                 "release: the transaction that held the lock "
                                 "has already ended");
    }
    struct keytext k;
    keytext(&k, l);
    struct arg kargs[2];
    int nk = key_args(kargs, &k);
    int was_held;
    sqllock_status st =
        run_bool(c, k.base + O_UNLOCK + l->mode, kargs, nk, &was_held, "release");
    if (st == SQLLOCK_ECONNECT)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the lock "
                             "with it");
    if (st == SQLLOCK_OK && !was_held)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the server says this session no "
                             "longer held the lock");
    return st;
}

/* held() for check: the lock in its own mode; for a collision: any mode. */
static int held_same_mode(sqllock_client *c, const sqllock_lock *l, const char *what)
{
    return held(c, l, 0, what);
}

static int held_any_mode(sqllock_client *c, const sqllock_lock *l, const char *what)
{
    return held(c, l, 1, what);
}

static sqllock_status po_check(sqllock_client *c, sqllock_lock *l)
{
    return sqllock__odbc_check(c, l, held_same_mode);
}

static int po_still_held(sqllock_client *c, const sqllock_lock *e)
{
    return sqllock__odbc_still_held(c, e, held_any_mode);
}

/* Our own connection gets application_name "sqllock[<pid>]@<host>" when
   the string set none (psqlODBC has no keyword for it; APP= is SQL
   Server's), and the settings of PG_SQL_OWN_SETTINGS, unless pqopt= or
   ConnSettings chose them. */
static sqllock_status own_session(sqllock_client *c, struct odbc_state *s)
{
    SQLHSTMT st = SQL_NULL_HSTMT;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, &st)))
        return sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc,
                                  "connect: setting up the session", 0);
    char name[64];
    SQLLEN len;
    sqllock__appname(name, sizeof(name));
    SQLRETURN r = sqllock__odbc_bind_text(st, 1, name, &len);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(
            st,
            (SQLCHAR
                 *)"SELECT pg_catalog.count(pg_catalog.set_config(d.name, d.setting, false))"
                   " FROM (VALUES ('application_name', ?), " PG_SQL_OWN_SETTINGS ")"
                   "  AS d(name, setting) JOIN pg_catalog.pg_settings AS s ON s.name = d.name"
                   " WHERE CASE d.name WHEN 'application_name' THEN s.setting = ''"
                   "  ELSE " PG_SQL_NOT_CALLERS("s") " END",
            SQL_NTS);
    sqllock_status result = SQL_SUCCEEDED(r)
                                ? SQLLOCK_OK
                                : sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st,
                                                     "connect: setting up the session", 0);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return result;
}

static sqllock_status refuse_standby(sqllock_client *c, const char *what)
{
    int standby = 0;
    sqllock_status st = run_bool(c, O_RECOVERY, NULL, 0, &standby, what);
    if (st == SQLLOCK_OK && standby)
        return sqllock__fail(c, SQLLOCK_ESTATE, "%s: " PG_STANDBY_REFUSED, what);
    return st;
}

/* Records the advisory locks an attached session already holds. */
static sqllock_status snapshot_held(sqllock_client *c, struct odbc_state *s)
{
    SQLHSTMT st = sqllock__odbc_stmt(c, s, O_SNAPSHOT, sql[O_SNAPSHOT]);
    if (!st)
        return c->last_status;
    SQLRETURN r = SQLExecute(st);
    sqllock_status result = SQLLOCK_OK;
    while (SQL_SUCCEEDED(r) && result == SQLLOCK_OK && SQL_SUCCEEDED(r = SQLFetch(st))) {
        SQLBIGINT key = 0;
        SQLINTEGER sub = 0;
        SQLLEN len = 0;
        r = SQLGetData(st, 1, SQL_C_SBIGINT, &key, 0, &len);
        if (SQL_SUCCEEDED(r))
            r = SQLGetData(st, 2, SQL_C_SLONG, &sub, 0, &len);
        int space = sub == 2 ? SQLLOCK_SPACE_PAIR : SQLLOCK_SPACE_INT8;
        if (SQL_SUCCEEDED(r) && sqllock__add_foreign(c, (uint64_t)key, space) != SQLLOCK_OK)
            result = sqllock__fail(c, SQLLOCK_ENOMEM, "attach: out of memory");
    }
    if (result == SQLLOCK_OK && r != SQL_NO_DATA)
        result =
            sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st, "attach: reading pg_locks failed", 0);
    sqllock__odbc_reset(st);
    return result;
}

sqllock_status sqllock__pg_odbc_setup(sqllock_client *c, struct odbc_state *s)
{
    const char *what = s->owned ? "connect" : "attach";
    sqllock_status st = s->owned ? own_session(c, s) : SQLLOCK_OK;
    if (st == SQLLOCK_OK)
        st = refuse_standby(c, what);
    if (st == SQLLOCK_OK && !s->owned)
        st = snapshot_held(c, s);
    return st;
}

const struct sqllock_backend sqllock__pg_advisory_odbc = {
    .name = "pg-advisory",
    .caps = SQLLOCK_CAP_SESSION | SQLLOCK_CAP_NUMERIC_KEYS | SQLLOCK_CAP_SHARED |
            SQLLOCK_CAP_TRANSACTION |
            SQLLOCK_CAP_RELEASE_BEFORE_CLOSE, /* the driver manager may pool the connection */
    .ident = pg_ident,
    .acquire = po_acquire,
    .release = po_release,
    .check = po_check,
    .extend = NULL,
    .still_held = po_still_held,
    .in_transaction = sqllock__odbc_in_transaction,
    .close = NULL, /* its state is the connection, which is the client's */
    .abandon = NULL,
    .try_all = po_try_all,
};
