/* SPDX-License-Identifier: MIT */
/*
 * The TDS emulation of SQL Server (tests/mssql/tds_emulator.py) checked
 * through FreeTDS with plain ODBC calls, no sqllock: that it answers as
 * Microsoft documents SQL Server to (sp_getapplock's return codes, modes
 * and their compatibility, counted grants, queue order, LockTimeout NULL,
 * error 1223, KILL, deadlock victims, ATTENTION, @@SPID/@@TRANCOUNT), so
 * that the adapter's tests test the adapter against SQL Server's rules.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tds_admin.h"

/* sp_getapplock(res, mode, owner, *to; NULL timeout when to is NULL), or
   sp_releaseapplock(res, owner) when mode is NULL: the return code, or
   -10000 - the native error when the call failed. */
static int applock(struct t_odbc *o, const char *res, const char *mode, const char *owner,
                   const SQLINTEGER *to)
{
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st)))
        return -20000;
    SQLINTEGER rc = -12345, tv = to ? *to : 0, native = 0;
    SQLLEN rci = 0, ri = SQL_NTS, mi = SQL_NTS, oi = SQL_NTS, ti = to ? 0 : SQL_NULL_DATA;
    SQLUSMALLINT p = 1;
    SQLBindParameter(st, p++, SQL_PARAM_OUTPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0, &rc, 0, &rci);
    SQLBindParameter(st, p++, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_WVARCHAR, 255, 0, (SQLPOINTER)res,
                     0, &ri);
    if (mode)
        SQLBindParameter(st, p++, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 32, 0,
                         (SQLPOINTER)mode, 0, &mi);
    SQLBindParameter(st, p++, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 32, 0, (SQLPOINTER)owner,
                     0, &oi);
    if (mode)
        SQLBindParameter(st, p++, SQL_PARAM_INPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0, &tv, 0, &ti);
    SQLRETURN r = SQLExecDirect(st,
                                (SQLCHAR *)(mode ? "{? = call sp_getapplock(?, ?, ?, ?)}"
                                                 : "{? = call sp_releaseapplock(?, ?)}"),
                                SQL_NTS);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
        SQLCHAR state[6];
        SQLSMALLINT len;
        SQLGetDiagRec(SQL_HANDLE_STMT, st, 1, state, &native, NULL, 0, &len);
    }
    while (SQL_SUCCEEDED(SQLMoreResults(st)))
        ;
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return native ? -10000 - (int)native : (int)rc;
}

static int getapplock(struct t_odbc *o, const char *res, const char *mode, const char *owner,
                      const SQLINTEGER *to)
{
    return applock(o, res, mode, owner, to);
}

static int releaseapplock(struct t_odbc *o, const char *res, const char *owner)
{
    return applock(o, res, NULL, owner, NULL);
}

static const SQLINTEGER TRY = 0, FOREVER = -1;

static int open2(struct t_odbc *a, struct t_odbc *b)
{
    return t_odbc_open(a, t_url(), t_tag("a")) && t_odbc_open(b, t_url(), t_tag("b"));
}

static void t_identity(void)
{
    struct t_odbc a, b;
    CHECK(open2(&a, &b));
    char dbms[64] = "";
    SQLSMALLINT len;
    CHECK(SQL_SUCCEEDED(SQLGetInfo(a.dbc, SQL_DBMS_NAME, dbms, sizeof(dbms), &len)));
    CHECKF(strcmp(dbms, "Microsoft SQL Server") == 0, "DBMS name %s", dbms);
    long long sa = t_tds_ll(&a, "SELECT @@SPID", NULL), sb = t_tds_ll(&b, "SELECT @@SPID", NULL);
    CHECK(sa > 0 && sb > 0 && sa != sb);
    CHECK(t_tds_ll(&a, "SELECT @@TRANCOUNT", NULL) == 0);
    CHECK(t_odbc_autocommit(&a, 0));
    CHECK(t_tds_ll(&a, "SELECT @@TRANCOUNT", NULL) == 1);
    CHECK(t_odbc_end(&a, SQL_COMMIT));
    CHECK(t_tds_ll(&a, "SELECT @@TRANCOUNT", NULL) == 1); /* the driver begins again */
    CHECK(t_odbc_autocommit(&a, 1));
    CHECK(t_tds_ll(&a, "SELECT @@TRANCOUNT", NULL) == 0);
    t_odbc_close(&a);
    t_odbc_close(&b);
}

static void t_return_codes(void)
{
    const char *r = t_tag("codes");
    struct t_odbc a, b;
    CHECK(open2(&a, &b));
    SQLINTEGER w200 = 200;
    CHECK(getapplock(&a, r, "Exclusive", "Session", &TRY) == 0);
    CHECK(getapplock(&b, r, "Exclusive", "Session", &TRY) == -1); /* no error raised */
    long long t0 = t_now_ms();
    CHECK(getapplock(&b, r, "Exclusive", "Session", &w200) == -1);
    CHECK(t_now_ms() - t0 >= 190);
    int bogus = getapplock(&b, r, "Bogus", "Session", &TRY); /* -999, with an error */
    CHECKF(bogus == -999 || bogus <= -10000, "mode Bogus: %d", bogus);
    /* Transaction owner without a transaction: refused. */
    int tx = getapplock(&b, t_tag("tx"), "Exclusive", "Transaction", &TRY);
    CHECKF(tx == -999 || tx <= -10000, "transaction owner outside a transaction: %d", tx);
    CHECKF(releaseapplock(&b, r, "Session") == -10000 - 1223, "release of a lock not held");
    /* Names are binary: case matters. */
    char upper[96];
    snprintf(upper, sizeof(upper), "%s", r);
    upper[0] = 'C';
    CHECK(getapplock(&b, upper, "Exclusive", "Session", &TRY) == 0);
    CHECK(releaseapplock(&b, upper, "Session") == 0);
    /* Counted: taken twice, released twice. */
    CHECK(getapplock(&a, r, "Exclusive", "Session", &TRY) == 0);
    CHECK(releaseapplock(&a, r, "Session") == 0);
    CHECK(getapplock(&b, r, "Exclusive", "Session", &TRY) == -1);
    CHECK(releaseapplock(&a, r, "Session") == 0);
    CHECK(getapplock(&b, r, "Exclusive", "Session", &TRY) == 0);
    CHECK(releaseapplock(&b, r, "Session") == 0);
    t_odbc_close(&a);
    t_odbc_close(&b);
}

/* SQL Server's compatibility of applock modes (held x requested). */
static void t_modes(void)
{
    static const char *const m[] = {"IntentShared", "Shared", "Update", "IntentExclusive",
                                    "Exclusive"};
    static const int ok[5][5] = {
        {1, 1, 1, 1, 0}, {1, 1, 1, 0, 0}, {1, 1, 0, 0, 0}, {1, 0, 0, 1, 0}, {0, 0, 0, 0, 0}};
    struct t_odbc a, b;
    CHECK(open2(&a, &b));
    for (int h = 0; h < 5; h++) {
        for (int q = 0; q < 5; q++) {
            const char *r = t_tag("mode");
            CHECK(getapplock(&a, r, m[h], "Session", &TRY) == 0);
            int got = getapplock(&b, r, m[q], "Session", &TRY);
            CHECKF(got == (ok[h][q] ? 0 : -1), "%s held, %s asked: %d", m[h], m[q], got);
            if (got == 0)
                CHECK(releaseapplock(&b, r, "Session") == 0);
            CHECK(releaseapplock(&a, r, "Session") == 0);
        }
    }
    t_odbc_close(&a);
    t_odbc_close(&b);
}

struct waiter {
    struct t_odbc *o;
    const char *res;
    int rc;
    long long at;
    const char *drop; /* let go of this when the wait fails */
};

static void *wait_main(void *p)
{
    struct waiter *w = p;
    w->rc = getapplock(w->o, w->res, "Exclusive", "Session", &FOREVER);
    w->at = t_now_ms();
    if (w->rc != 1 && w->drop)
        releaseapplock(w->o, w->drop, "Session");
    return NULL;
}

/* Waiters are granted in the order they came, with 1 (after a wait). */
static void t_queue_order(void)
{
    const char *r = t_tag("queue");
    struct t_odbc a, b, c, adm;
    CHECK(open2(&a, &b) && t_odbc_open(&c, t_url(), t_tag("c")) &&
          t_odbc_open(&adm, t_url(), t_tag("adm")));
    CHECK(getapplock(&a, r, "Exclusive", "Session", &TRY) == 0);
    struct waiter wb = {&b, r, 99, 0, NULL}, wc = {&c, r, 99, 0, NULL};
    pthread_t tb, tc;
    int sb = (int)t_tds_ll(&b, "SELECT @@SPID", NULL),
        sc = (int)t_tds_ll(&c, "SELECT @@SPID", NULL);
    CHECK(pthread_create(&tb, NULL, wait_main, &wb) == 0);
    int b_waits = t_tds_wait_blocked(&adm, sb, 5000);
    CHECK(pthread_create(&tc, NULL, wait_main, &wc) == 0);
    int c_waits = t_tds_wait_blocked(&adm, sc, 5000);
    int freed = releaseapplock(&a, r, "Session");
    /* b's turn: c still waits until b lets go. */
    usleep(100000);
    int c_still = wc.rc == 99;
    pthread_join(tb, NULL);
    int b_freed = releaseapplock(&b, r, "Session");
    pthread_join(tc, NULL);
    CHECK(b_waits && c_waits && freed == 0 && b_freed == 0);
    CHECKF(wb.rc == 1 && wc.rc == 1, "b %d, c %d", wb.rc, wc.rc);
    CHECK(c_still && wb.at <= wc.at);
    CHECK(releaseapplock(&c, r, "Session") == 0);
    t_odbc_close(&a);
    t_odbc_close(&b);
    t_odbc_close(&c);
    t_odbc_close(&adm);
}

/* @LockTimeout NULL uses the session's SET LOCK_TIMEOUT. */
static void t_lock_timeout_null(void)
{
    const char *r = t_tag("null");
    struct t_odbc a, b;
    CHECK(open2(&a, &b));
    CHECK(getapplock(&a, r, "Exclusive", "Session", &TRY) == 0);
    CHECK(t_odbc_exec(&b, "SET LOCK_TIMEOUT 300"));
    long long t0 = t_now_ms();
    CHECK(getapplock(&b, r, "Exclusive", "Session", NULL) == -1);
    long long took = t_now_ms() - t0;
    CHECKF(took >= 290 && took < 3000, "LOCK_TIMEOUT 300 waited %lld ms", took);
    t_odbc_close(&a);
    t_odbc_close(&b);
}

/* Of two sessions waiting for each other, one is the victim (-3). */
static void t_deadlock(void)
{
    const char *x = t_tag("dx"), *y = t_tag("dy");
    struct t_odbc a, b;
    CHECK(open2(&a, &b));
    CHECK(getapplock(&a, x, "Exclusive", "Session", &TRY) == 0);
    CHECK(getapplock(&b, y, "Exclusive", "Session", &TRY) == 0);
    struct waiter wa = {&a, y, 99, 0, x}, wb = {&b, x, 99, 0, y};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, wait_main, &wa) == 0);
    CHECK(pthread_create(&tb, NULL, wait_main, &wb) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECKF((wa.rc == -3) != (wb.rc == -3), "a %d, b %d", wa.rc, wb.rc);
    CHECKF(wa.rc == 1 || wb.rc == 1, "a %d, b %d", wa.rc, wb.rc);
    t_odbc_close(&a);
    t_odbc_close(&b);
}

struct canceled {
    SQLHSTMT st;
    SQLRETURN r;
    char state[6];
};

static void *exec_main(void *p)
{
    struct canceled *c = p;
    c->r = SQLExecute(c->st);
    SQLINTEGER native;
    SQLSMALLINT len;
    if (!SQL_SUCCEEDED(c->r))
        SQLGetDiagRec(SQL_HANDLE_STMT, c->st, 1, (SQLCHAR *)c->state, &native, NULL, 0, &len);
    return NULL;
}

/* An ATTENTION (SQLCancel) ends a wait with HY008 and leaves the session
   usable, and KILL ends a session: its next statement fails, its locks
   are free. */
static void t_attention_and_kill(void)
{
    const char *r = t_tag("attn");
    struct t_odbc a, b, adm;
    CHECK(open2(&a, &b) && t_odbc_open(&adm, t_url(), t_tag("adm")));
    CHECK(getapplock(&a, r, "Exclusive", "Session", &TRY) == 0);
    struct canceled c = {NULL, 0, ""};
    CHECK(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, b.dbc, &c.st)));
    SQLINTEGER rc = 0, to = -1;
    SQLLEN rci = 0, ri = SQL_NTS, mi = SQL_NTS, oi = SQL_NTS, ti = 0;
    SQLBindParameter(c.st, 1, SQL_PARAM_OUTPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0, &rc, 0, &rci);
    SQLBindParameter(c.st, 2, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_WVARCHAR, 255, 0, (SQLPOINTER)r,
                     0, &ri);
    SQLBindParameter(c.st, 3, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 32, 0,
                     (SQLPOINTER) "Exclusive", 0, &mi);
    SQLBindParameter(c.st, 4, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 32, 0,
                     (SQLPOINTER) "Session", 0, &oi);
    SQLBindParameter(c.st, 5, SQL_PARAM_INPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0, &to, 0, &ti);
    CHECK(SQL_SUCCEEDED(
        SQLPrepare(c.st, (SQLCHAR *)"{? = call sp_getapplock(?, ?, ?, ?)}", SQL_NTS)));
    int sb = (int)t_tds_ll(&b, "SELECT @@SPID", NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, exec_main, &c) == 0);
    int waited = t_tds_wait_blocked(&adm, sb, 5000);
    long long t0 = t_now_ms();
    SQLCancel(c.st);
    pthread_join(th, NULL);
    long long took = t_now_ms() - t0;
    SQLFreeHandle(SQL_HANDLE_STMT, c.st);
    CHECK(waited);
    CHECKF(c.r == SQL_ERROR && strcmp(c.state, "HY008") == 0, "SQLExecute %d [%s]", (int)c.r,
           c.state);
    CHECKF(took < 2000, "the cancel took %lld ms", took);
    CHECK(t_tds_ll(&b, "SELECT 1", NULL) == 1);
    /* KILL: a's lock goes with its session. */
    int sa = (int)t_tds_ll(&a, "SELECT @@SPID", NULL);
    CHECK(t_tds_kill(&adm, sa));
    SQLHSTMT st;
    CHECK(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, a.dbc, &st)));
    SQLRETURN dead = SQLExecDirect(st, (SQLCHAR *)"SELECT 1", SQL_NTS);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    CHECK(!SQL_SUCCEEDED(dead));
    CHECK(getapplock(&b, r, "Exclusive", "Session", &TRY) == 0);
    t_odbc_close(&a);
    t_odbc_close(&b);
    t_odbc_close(&adm);
}

static const struct tcase cases[] = {
    {"identity", t_identity,
     "it is \"Microsoft SQL Server\" to the driver, with its own @@SPID per session and "
     "@@TRANCOUNT following the driver's transaction requests"},
    {"return_codes", t_return_codes,
     "sp_getapplock returns 0/-1/-999 as documented, grants are counted, names are binary, "
     "and releasing a lock not held is error 1223"},
    {"modes", t_modes, "the five applock modes follow SQL Server's compatibility matrix"},
    {"queue_order", t_queue_order, "waiters are granted in arrival order, with return code 1"},
    {"lock_timeout_null", t_lock_timeout_null,
     "@LockTimeout NULL waits for the session's SET LOCK_TIMEOUT"},
    {"deadlock", t_deadlock, "of two applock waits on each other one gets -3, the other 1"},
    {"attention_and_kill", t_attention_and_kill,
     "an ATTENTION ends a wait with HY008 leaving the session usable; KILL ends a session and "
     "frees its locks"},
};

T_MAIN(cases)
