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
 * psqlODBC), and is CANCELED too.
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
    size_t n = mssql_resource(l->name, l->name_len, utf8);
    r->bytes = (SQLLEN)(mssql_utf16(utf8, n, r->w, 256) * sizeof(SQLWCHAR));
}

static uint64_t ms_ident(const char *name, size_t len)
{
    char utf8[MSSQL_RESOURCE_MAX + 1];
    size_t n = mssql_resource(name, len, utf8);
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
    odbc_reset(st);
}

/*
 * Runs a procedure that returns a code: sp_getapplock (nargs 4) or
 * sp_releaseapplock (nargs 2). On SQL_ERROR the status is in *st_out and c
 * carries the message; otherwise *rc is the code and info the diagnostics
 * of a SQL_SUCCESS_WITH_INFO.
 */
static int call_proc(sqllock_client *c, int which, const sqllock_lock *l, SQLINTEGER timeout,
                     int cancelable, SQLINTEGER *rc, struct odbc_diag *info,
                     sqllock_status *st_out, const char *what)
{
    struct odbc_state *s = state(c);
    SQLHSTMT st = odbc_stmt(c, s, which, sql[which]);
    if (!st) {
        *st_out = c->last_status;
        return -1;
    }
    struct resource res;
    resource_of(&res, l);
    const char *mode = l->mode == SQLLOCK_SHARED ? "Shared" : "Exclusive";
    const char *owner = owner_of(l);
    SQLLEN rc_ind = 0, mode_ind, owner_ind, to_ind;
    *rc = -12345;
    int p = 1;
    SQLRETURN r = SQLBindParameter(st, (SQLUSMALLINT)p++, SQL_PARAM_OUTPUT, SQL_C_SLONG,
                                   SQL_INTEGER, 0, 0, rc, 0, &rc_ind);
    if (SQL_SUCCEEDED(r))
        r = bind_resource(st, p++, &res);
    if (SQL_SUCCEEDED(r) && which == M_GET)
        r = odbc_bind_text(st, p++, mode, &mode_ind);
    if (SQL_SUCCEEDED(r))
        r = odbc_bind_text(st, p++, owner, &owner_ind);
    if (SQL_SUCCEEDED(r) && which == M_GET)
        r = odbc_bind_i32(st, p++, &timeout, &to_ind);
    int canceled = 0;
    if (SQL_SUCCEEDED(r))
        r = odbc_execute(c, st, cancelable, &canceled);
    memset(info, 0, sizeof(*info));
    if (!SQL_SUCCEEDED(r)) {
        *st_out = odbc_fail(c, s, SQL_HANDLE_STMT, st, what, canceled);
        odbc_reset(st);
        return -1;
    }
    if (r == SQL_SUCCESS_WITH_INFO)
        odbc_diag_read(s, SQL_HANDLE_STMT, st, info);
    finish(st);
    if (rc_ind == SQL_NULL_DATA || *rc == -12345) {
        *st_out = sqllock__fail(c, SQLLOCK_ESERVER, "%s: the server returned no return code",
                                what);
        return -1;
    }
    return 0;
}

/* APPLOCK_MODE for l: 1 held, 0 not held, or a negative status. */
static int held_mode(sqllock_client *c, const sqllock_lock *l, const char *what)
{
    struct odbc_state *s = state(c);
    SQLHSTMT st = odbc_stmt(c, s, M_MODE, sql[M_MODE]);
    if (!st)
        return (int)c->last_status;
    struct resource res;
    resource_of(&res, l);
    SQLLEN owner_ind;
    SQLRETURN r = bind_resource(st, 1, &res);
    if (SQL_SUCCEEDED(r))
        r = odbc_bind_text(st, 2, owner_of(l), &owner_ind);
    if (SQL_SUCCEEDED(r))
        r = SQLExecute(st);
    char mode[32] = "";
    int got = SQL_SUCCEEDED(r) ? odbc_fetch_text(st, mode, sizeof(mode)) : -1;
    if (got < 0) {
        sqllock_status fail = odbc_fail(c, s, SQL_HANDLE_STMT, st, what, 0);
        odbc_reset(st);
        return (int)fail;
    }
    odbc_reset(st);
    return got == 1 && strcmp(mode, "NoLock") != 0;
}

/*
 * After a failed wait: a client cancel can race with the grant, so look
 * and let go of what the server granted anyway. Tried a few times because
 * a cancel sent during the wait may still land on these statements.
 */
static sqllock_status release_orphan(sqllock_client *c, const sqllock_lock *l)
{
    sqllock_status st = SQLLOCK_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        int held = held_mode(c, l, "acquire (cleanup)");
        if (held == 0 || held == SQLLOCK_ECONNECT)
            return SQLLOCK_OK; /* a dead session holds nothing */
        if (held == 1) {
            SQLINTEGER rc;
            struct odbc_diag info;
            if (call_proc(c, M_RELEASE, l, 0, 0, &rc, &info, &st, "acquire (cleanup)") == 0)
                return SQLLOCK_OK;
        } else {
            st = (sqllock_status)held;
        }
    }
    return st;
}

static sqllock_status ms_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    struct odbc_state *s = state(c);
    if (odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT, "acquire: the connection to the server is "
                             "closed or broken");
    if (l->scope == SQLLOCK_TRANSACTION && odbc_autocommit(s))
        return sqllock__fail(c, SQLLOCK_ESTATE, "acquire: transaction scope needs an open "
                             "transaction (autocommit off on the connection)");
    SQLINTEGER timeout = wait_ms == SQLLOCK_WAIT_FOREVER ? -1 : (SQLINTEGER)wait_ms;
    SQLINTEGER rc;
    struct odbc_diag info;
    sqllock_status st;
    if (call_proc(c, M_GET, l, timeout, wait_ms != 0, &rc, &info, &st, "acquire") != 0) {
        if (st == SQLLOCK_ECONNECT || wait_ms == 0)
            return st;
        struct sqllock_err saved;
        sqllock__err_save(c, &saved);
        sqllock_status cleanup = release_orphan(c, l);
        if (cleanup != SQLLOCK_OK)
            return cleanup;
        return sqllock__err_restore(c, &saved);
    }
    switch (rc) {
    case 0:
    case 1:
        return SQLLOCK_OK;
    case -1:
        st = wait_ms == 0
                 ? sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lock is held by another session")
                 : sqllock__fail(c, SQLLOCK_TIMEOUT, "acquire: timed out waiting for the lock "
                                 "(sp_getapplock returned -1)");
        break;
    case -2:
        st = sqllock__fail(c, SQLLOCK_CANCELED, "acquire: the lock request was canceled "
                           "(sp_getapplock returned -2)");
        break;
    case -3:
        sqllock__set_errcode(c, "40001");
        st = sqllock__fail(c, SQLLOCK_DEADLOCK, "acquire: chosen as a deadlock victim "
                           "(sp_getapplock returned -3)");
        break;
    default:
        sqllock__set_errcode(c, info.sqlstate[0] ? info.sqlstate : NULL);
        return sqllock__fail(c, SQLLOCK_ESERVER, "acquire: sp_getapplock returned %d (%s): %s",
                             (int)rc, rc == -999 ? "parameter validation or other call error"
                                                 : "not a documented return code",
                             info.msg[0] ? info.msg : "no diagnostics");
    }
    return st;
}

static sqllock_status ms_release(sqllock_client *c, sqllock_lock *l)
{
    struct odbc_state *s = state(c);
    if (odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_LOST, "release: the connection was lost, and the lock "
                             "with it");
    if (l->scope == SQLLOCK_TRANSACTION) {
        /* Released by the server when the transaction ends, like
           pg-advisory: the handle is forgotten now. */
        int held = odbc_autocommit(s) ? 0 : held_mode(c, l, "release");
        if (held < 0)
            return (sqllock_status)held;
        return held ? SQLLOCK_OK
                    : sqllock__fail(c, SQLLOCK_LOST, "release: the transaction that held the "
                                    "lock has already ended");
    }
    SQLINTEGER rc;
    struct odbc_diag info;
    sqllock_status st;
    if (call_proc(c, M_RELEASE, l, 0, 0, &rc, &info, &st, "release") != 0) {
        if (st == SQLLOCK_ECONNECT || strcmp(c->errcode, "08S01") == 0)
            return sqllock__fail(c, SQLLOCK_LOST, "release: the connection was lost, and the "
                                 "lock with it");
        return st;
    }
    if (rc == 0)
        return SQLLOCK_OK;
    /* SQL Server says error 1223 "not currently held" along with -999. */
    return sqllock__fail(c, SQLLOCK_LOST, "release: the server says this session no longer "
                         "held the lock (sp_releaseapplock returned %d: %s)", (int)rc,
                         info.msg[0] ? info.msg : "no diagnostics");
}

static sqllock_status ms_check(sqllock_client *c, sqllock_lock *l)
{
    return odbc_check(c, l, held_mode);
}

static int ms_still_held(sqllock_client *c, const sqllock_lock *e)
{
    return odbc_still_held(c, e, held_mode);
}

const struct sqllock_backend sqllock__mssql_applock = {
    .name = "mssql-applock",
    .has_numeric_keys = 0,
    .ident = ms_ident,
    .acquire = ms_acquire,
    .release = ms_release,
    .check = ms_check,
    .extend = NULL,
    .still_held = ms_still_held,
    .in_transaction = odbc_in_transaction,
    .close = odbc_close,
    .abandon = odbc_abandon,
    .release_before_close = 1, /* the driver manager may pool the connection */
};
