/* SPDX-License-Identifier: MIT */
/*
 * The mssql-applock backend: SQL Server application locks over ODBC. Every
 * statement is an ODBC call escape or a SELECT with bound parameters, the
 * very text SQL Server is sent:
 *
 *   {? = call sp_getapplock(?, ?, ?, ?)}   @Resource, @LockMode, @LockOwner,
 *                                          @LockTimeout (0 try, -1 forever)
 *   {? = call sp_releaseapplock(?, ?)}     @Resource, @LockOwner
 *   SELECT APPLOCK_MODE('public', ?, ?)    what this session holds
 *
 * The wait is bounded by @LockTimeout on the server, so no session setting
 * changes. Return codes: 0 and 1 granted; -1 timed out (BUSY for a try); -2
 * canceled; -3 deadlock victim; -999 a call error, reported with the
 * driver's diagnostics. A client cancel (SQLCancel) that ends the statement
 * before it returns is reported by the driver as HY008 (57014 through
 * psqlODBC), and is CANCELED too. Errors a server may send beside the
 * code, or instead of it, mean the same: 1222 not granted (BUSY for a try,
 * never TIMEOUT), 1205 deadlock victim, 1223 (release) not held, so LOST.
 * Autocommit is never touched: FreeTDS rolls back when it is turned on.
 * Round trips through FreeTDS: one per acquire, release and check.
 *
 * check uses APPLOCK_MODE rather than APPLOCK_TEST: APPLOCK_TEST answers
 * "could this session be granted the lock now", which is also true of a
 * lock the session still holds, so it cannot tell held from lost.
 */
#include <stdio.h>
#include <string.h>

#include "odbc_int.h"

enum { M_GET, M_RELEASE, M_MODE };

static const char *const sql[] = {
    [M_GET] = "{? = call sp_getapplock(?, ?, ?, ?)}",
    [M_RELEASE] = "{? = call sp_releaseapplock(?, ?)}",
    [M_MODE] = "SELECT APPLOCK_MODE('public', ?, ?)",
};

static struct odbc_state *state(sqllock_client *c)
{
    return c->be_state;
}

/* A lock's resource, bound as nvarchar. */
struct resource {
    SQLWCHAR w[256];
    SQLLEN bytes;
};

static void resource_of(struct resource *r, const sqllock_lock *l)
{
    char utf8[MSSQL_RESOURCE_MAX + 1];
    size_t n = sqllock__mssql_resource(l->name, l->name_len, utf8);
    r->bytes = (SQLLEN)(sqllock__mssql_utf16(utf8, n, r->w, 256) * sizeof(SQLWCHAR));
}

static uint64_t ms_ident(const char *name, size_t len)
{
    char utf8[MSSQL_RESOURCE_MAX + 1];
    size_t n = sqllock__mssql_resource(name, len, utf8);
    return sqllock__hashtext64((const unsigned char *)utf8, n);
}

static const char *owner_of(const sqllock_lock *l)
{
    return l->scope == SQLLOCK_TRANSACTION ? "Transaction" : "Session";
}

static SQLRETURN bind_resource(SQLHSTMT st, int i, struct resource *r)
{
    return SQLBindParameter(st, (SQLUSMALLINT)i, SQL_PARAM_INPUT, SQL_C_WCHAR, SQL_WVARCHAR, 255,
                            0, r->w, r->bytes, &r->bytes);
}

/* Reads what is left of the statement's results, so that output
   parameters are set (SQL Server sends them last), then closes it. */
static void finish(SQLHSTMT st)
{
    SQLRETURN r;
    int guard = 0;
    while ((r = SQLMoreResults(st)) != SQL_NO_DATA && SQL_SUCCEEDED(r) && ++guard < 16)
        ;
    sqllock__odbc_reset(st);
}

/* What a procedure call came back with. */
#define RC_NONE (-12345) /* no return code came */
struct reply {
    SQLINTEGER rc;
    int failed;            /* SQLExecute failed; diag says why */
    int canceled;          /* sqllock_cancel's SQLCancel was sent */
    struct odbc_diag diag; /* the error, or a success's info */
};

/*
 * Runs a procedure that returns a code: sp_getapplock (nargs 4) or
 * sp_releaseapplock (nargs 2). -1 when it could not be run (nothing was
 * sent): *st_out is the status and c carries the message. Otherwise 0 and
 * *rp says what came back. SQLExecute's SQL_NO_DATA is a reply like any
 * other (FreeTDS returns it for a DONEPROC without DONE_COUNT, and before a
 * RETURNSTATUS that follows a DONEINPROC); the results are read to their
 * end either way, which sets the return code (SQL Server sends it last)
 * and leaves nothing for SQLFreeStmt to cancel. Errors beside a return
 * code are kept, and the code wins.
 */
static int call_proc(sqllock_client *c, int which, const sqllock_lock *l, SQLINTEGER timeout,
                     int cancelable, struct reply *rp, sqllock_status *st_out, const char *what)
{
    struct odbc_state *s = state(c);
    SQLHSTMT st = sqllock__odbc_stmt(c, s, which, sql[which]);
    if (!st) {
        *st_out = c->last_status;
        return -1;
    }
    struct resource res;
    resource_of(&res, l);
    const char *mode = l->mode == SQLLOCK_SHARED ? "Shared" : "Exclusive";
    const char *owner = owner_of(l);
    SQLLEN rc_ind = 0, mode_ind, owner_ind, to_ind;
    memset(rp, 0, sizeof(*rp));
    rp->rc = RC_NONE;
    int p = 1;
    SQLRETURN r = SQLBindParameter(st, (SQLUSMALLINT)p++, SQL_PARAM_OUTPUT, SQL_C_SLONG,
                                   SQL_INTEGER, 0, 0, &rp->rc, 0, &rc_ind);
    if (SQL_SUCCEEDED(r))
        r = bind_resource(st, p++, &res);
    if (SQL_SUCCEEDED(r) && which == M_GET)
        r = sqllock__odbc_bind_text(st, p++, mode, &mode_ind);
    if (SQL_SUCCEEDED(r))
        r = sqllock__odbc_bind_text(st, p++, owner, &owner_ind);
    if (SQL_SUCCEEDED(r) && which == M_GET)
        r = sqllock__odbc_bind_i32(st, p++, &timeout, &to_ind);
    if (!SQL_SUCCEEDED(r)) {
        *st_out = sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st, what, 0);
        sqllock__odbc_reset(st);
        return -1;
    }
    r = sqllock__odbc_execute(c, s, st, cancelable, &rp->canceled);
    rp->failed = !SQL_SUCCEEDED(r) && r != SQL_NO_DATA;
    if (rp->failed || r == SQL_SUCCESS_WITH_INFO)
        sqllock__odbc_diag_read(s, SQL_HANDLE_STMT, st, &rp->diag);
    finish(st);
    if (rc_ind == SQL_NULL_DATA)
        rp->rc = RC_NONE;
    return 0;
}

/* APPLOCK_MODE for l: 1 held, 0 not held, or a negative status. Executed
   directly (FreeTDS would send a prepared statement as sp_unprepare and
   sp_prepexec, two round trips) and read to the end (else closing it
   sends an ATTENTION, a third): one round trip. */
static int held_mode(sqllock_client *c, const sqllock_lock *l, const char *what)
{
    struct odbc_state *s = state(c);
    SQLHSTMT st = sqllock__odbc_stmt(c, s, M_MODE, NULL);
    if (!st)
        return (int)c->last_status;
    struct resource res;
    resource_of(&res, l);
    SQLLEN owner_ind;
    SQLRETURN r = bind_resource(st, 1, &res);
    if (SQL_SUCCEEDED(r))
        r = sqllock__odbc_bind_text(st, 2, owner_of(l), &owner_ind);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(st, (SQLCHAR *)sql[M_MODE], SQL_NTS);
    char mode[32] = "";
    int got = SQL_SUCCEEDED(r) ? sqllock__odbc_fetch_text(st, mode, sizeof(mode)) : -1;
    if (got < 0) {
        sqllock_status fail = sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st, what, 0);
        finish(st);
        return (int)fail;
    }
    finish(st);
    return got == 1 && strcmp(mode, "NoLock") != 0;
}

/*
 * After an acquire that failed without the server saying "not granted": a
 * client cancel can race with the grant, and a reply may be unreadable, so
 * look and let go of what the server granted anyway. Tried a few times
 * because a cancel sent during the wait may still land on these
 * statements.
 */
static sqllock_status release_orphan(sqllock_client *c, const sqllock_lock *l)
{
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        int held = held_mode(c, l, "acquire (cleanup)");
        if (held == 0 || held == SQLLOCK_ECONNECT)
            return SQLLOCK_OK; /* a dead session holds nothing */
        if (held == 1) {
            struct reply rp;
            if (call_proc(c, M_RELEASE, l, 0, 0, &rp, &st, "acquire (cleanup)") == 0) {
                if (!rp.failed || rp.diag.native == 1223)
                    return SQLLOCK_OK;
                st = sqllock__odbc_fail_diag(c, state(c), &rp.diag, "acquire (cleanup)", 0);
            }
        } else {
            st = (sqllock_status)held;
        }
    }
    return st;
}

/* sp_getapplock's -1, or error 1222 beside no code: a try is BUSY. */
static sqllock_status not_granted(sqllock_client *c, int64_t wait_ms)
{
    return wait_ms == 0
               ? sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lock is held by another session")
               : sqllock__fail(c, SQLLOCK_TIMEOUT,
                               "acquire: timed out waiting for the lock "
                               "(sp_getapplock returned -1)");
}

static sqllock_status deadlock_victim(sqllock_client *c)
{
    sqllock__set_errcode(c, "40001");
    return sqllock__fail(c, SQLLOCK_DEADLOCK,
                         "acquire: chosen as a deadlock victim "
                         "(sp_getapplock returned -3)");
}

static sqllock_status ms_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    struct odbc_state *s = state(c);
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "acquire: the connection to the server is "
                             "closed or broken");
    if (l->scope == SQLLOCK_TRANSACTION && sqllock__odbc_autocommit(s))
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: transaction scope needs an open "
                             "transaction (autocommit off on the connection)");
    SQLINTEGER timeout = wait_ms == SQLLOCK_WAIT_FOREVER ? -1 : (SQLINTEGER)wait_ms;
    struct reply rp;
    sqllock_status st;
    if (call_proc(c, M_GET, l, timeout, wait_ms != 0, &rp, &st, "acquire") != 0)
        return st;
    switch (rp.rc) {
    case 0:
    case 1: return SQLLOCK_OK;
    case -1: return not_granted(c, wait_ms);
    case -2:
        return sqllock__fail(c, SQLLOCK_CANCELED,
                             "acquire: the lock request was canceled "
                             "(sp_getapplock returned -2)");
    case -3: return deadlock_victim(c);
    }
    /* No code that says "not granted": whatever failed, the server may
       have granted the lock, so it is looked for and let go of. */
    if (rp.failed && rp.diag.native == 1222)
        return not_granted(c, wait_ms);
    if (rp.failed && rp.diag.native == 1205)
        return deadlock_victim(c);
    if (rp.failed) {
        st = sqllock__odbc_fail_diag(c, s, &rp.diag, "acquire", rp.canceled);
    } else if (rp.rc == RC_NONE) {
        st = sqllock__fail(c, SQLLOCK_ESERVER, "acquire: the server returned no return code");
    } else {
        sqllock__set_errcode(c, rp.diag.sqlstate[0] ? rp.diag.sqlstate : NULL);
        st = sqllock__fail(c, SQLLOCK_ESERVER, "acquire: sp_getapplock returned %d (%s): %s",
                           (int)rp.rc,
                           rp.rc == -999 ? "parameter validation or other call error"
                                         : "not a documented return code",
                           rp.diag.msg[0] ? rp.diag.msg : "no diagnostics");
    }
    if (st == SQLLOCK_ECONNECT)
        return st; /* a dead session holds nothing */
    struct sqllock_err saved;
    sqllock__err_save(c, &saved);
    sqllock_status cleanup = release_orphan(c, l);
    if (cleanup != SQLLOCK_OK)
        return cleanup;
    return sqllock__err_restore(c, &saved);
}

static sqllock_status ms_release(sqllock_client *c, sqllock_lock *l)
{
    struct odbc_state *s = state(c);
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the lock "
                             "with it");
    if (l->scope == SQLLOCK_TRANSACTION) {
        /* Released by the server when the transaction ends, like
           pg-advisory: the handle is forgotten now. */
        int held = sqllock__odbc_autocommit(s) ? 0 : held_mode(c, l, "release");
        if (held < 0)
            return (sqllock_status)held;
        return held ? SQLLOCK_OK
                    : sqllock__fail(c, SQLLOCK_LOST,
                                    "release: the transaction that held the "
                                    "lock has already ended");
    }
    struct reply rp;
    sqllock_status st;
    if (call_proc(c, M_RELEASE, l, 0, 0, &rp, &st, "release") != 0)
        return st;
    if (rp.rc == 0 && !rp.failed)
        return SQLLOCK_OK;
    /* SQL Server raises error 1223 "not currently held" (with -999). */
    if (rp.diag.native == 1223 || (!rp.failed && rp.rc != RC_NONE))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the server says this session no longer "
                             "held the lock (sp_releaseapplock returned %d: %s)",
                             (int)rp.rc, rp.diag.msg[0] ? rp.diag.msg : "no diagnostics");
    if (!rp.failed)
        return sqllock__fail(c, SQLLOCK_ESERVER, "release: the server returned no return code");
    st = sqllock__odbc_fail_diag(c, s, &rp.diag, "release", 0);
    if (st == SQLLOCK_ECONNECT || strcmp(c->errcode, "08S01") == 0)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost, and the "
                             "lock with it");
    return st;
}

static sqllock_status ms_check(sqllock_client *c, sqllock_lock *l)
{
    return sqllock__odbc_check(c, l, held_mode);
}

static int ms_still_held(sqllock_client *c, const sqllock_lock *e)
{
    return sqllock__odbc_still_held(c, e, held_mode);
}

const struct sqllock_backend sqllock__mssql_applock = {
    .name = "mssql-applock",
    .caps = SQLLOCK_CAP_SESSION | SQLLOCK_CAP_SHARED | SQLLOCK_CAP_TRANSACTION |
            SQLLOCK_CAP_RELEASE_BEFORE_CLOSE, /* the driver manager may pool the connection */
    .ident = ms_ident,
    .acquire = ms_acquire,
    .release = ms_release,
    .check = ms_check,
    .extend = NULL,
    .still_held = ms_still_held,
    .in_transaction = sqllock__odbc_in_transaction,
    .close = NULL, /* its state is the connection, which is the client's */
    .abandon = NULL,
};
