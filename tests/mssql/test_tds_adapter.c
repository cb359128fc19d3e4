/* SPDX-License-Identifier: MIT */
/*
 * mssql-applock through FreeTDS against the TDS emulation of SQL Server
 * (tests/mssql/tds_emulator.py): what only a real SQL Server driver shows.
 * Round trips are counted by the emulator (every request message of a
 * session); the URL is $SQLLOCK_TEST_MSSQL_URL with the run's
 * SQLLOCK_SUITE_URL_EXTRA (a TDS version, an emulator switch).
 */
#include <stdlib.h>
#include <string.h>

#include "tds_admin.h"

/* Round trips session spid made since *mark (which moves on). */
static long long trips(struct t_odbc *adm, int spid, long long *mark)
{
    long long now = t_tds_requests(adm, spid);
    long long d = now - *mark;
    *mark = now;
    return d;
}

static void t_round_trips(void)
{
    const char *name = t_tag("trips"), *app = t_tag("c");
    struct t_odbc adm;
    CHECK(t_odbc_open(&adm, t_url(), t_tag("adm")));
    sqllock_client *c = t_client(app);
    CHECK(c);
    int spid = t_tds_pid(&adm, app);
    CHECK(spid > 0);
    long long mark = t_tds_requests(&adm, spid);
    sqllock_lock *l;
    long long acq[3], chk[3], rel[3];
    for (int i = 0; i < 3; i++) { /* the first of each also prepares */
        CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
        acq[i] = trips(&adm, spid, &mark);
        CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
        chk[i] = trips(&adm, spid, &mark);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
        rel[i] = trips(&adm, spid, &mark);
    }
    printf("round trips on the wire (1st, 2nd, 3rd): acquire %lld %lld %lld, check %lld %lld "
           "%lld, release %lld %lld %lld\n",
           acq[0], acq[1], acq[2], chk[0], chk[1], chk[2], rel[0], rel[1], rel[2]);
    for (int i = 0; i < 3; i++)
        CHECKF(acq[i] == 1 && chk[i] == 1 && rel[i] == 1,
               "round %d: acquire %lld, check %lld, release %lld round trips (1 each expected)",
               i + 1, acq[i], chk[i], rel[i]);
    sqllock_client_free(c);
    t_odbc_close(&adm);
}

/* sp_releaseapplock on the test's own connection, behind the client. */
static int release_behind(struct t_odbc *o, const char *name)
{
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st)))
        return 0;
    SQLINTEGER rc = -12345;
    SQLLEN rc_ind = 0, n_ind = SQL_NTS, o_ind = SQL_NTS;
    SQLRETURN r = SQLBindParameter(st, 1, SQL_PARAM_OUTPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0, &rc,
                                   0, &rc_ind);
    if (SQL_SUCCEEDED(r))
        r = SQLBindParameter(st, 2, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 255, 0,
                             (SQLPOINTER)name, 0, &n_ind);
    if (SQL_SUCCEEDED(r))
        r = SQLBindParameter(st, 3, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 32, 0,
                             (SQLPOINTER) "Session", 0, &o_ind);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(st, (SQLCHAR *)"{? = call sp_releaseapplock(?, ?)}", SQL_NTS);
    while (SQL_SUCCEEDED(r) && SQL_SUCCEEDED(SQLMoreResults(st)))
        ;
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return rc == 0;
}

/* A lock the server no longer holds for the session (released behind the
   client's back: error 1223 from sp_releaseapplock) is LOST on release. */
static void t_release_not_held_is_lost(void)
{
    const char *name = t_tag("behind");
    struct t_odbc o;
    CHECK(t_odbc_open(&o, t_url(), t_tag("o")));
    sqllock_client *c = t_odbc_attach(&o);
    CHECK(c);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(release_behind(&o, name));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK(t_free_for_others(name));
    sqllock_client_free(c);
    t_odbc_close(&o);
}

/* A reply the adapter cannot read (the emulator's norc=1: granted, but no
   return code) fails the acquire, and nothing is left held: not by a
   try, not by a wait. */
static void t_unreadable_grant_released(void)
{
    const char *base = t_env("SQLLOCK_TEST_MSSQL_URL");
    CHECK(base);
    char url[1024];
    snprintf(url, sizeof(url), "%s;Database=sqllock_norc~norc=1;APP=%s", base, t_tag("n"));
    sqllock_client *c = NULL;
    CHECK_ST(sqllock_connect(&c, url), SQLLOCK_OK, c);
    for (int wait = 0; wait < 2; wait++) {
        const char *name = t_tag("norc");
        sqllock_lock *l = NULL;
        sqllock_acquire_opts o = t_opts(wait ? 500 : 0, SQLLOCK_SESSION);
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_ESERVER, c);
        CHECK(l == NULL && strstr(sqllock_errmsg(c), "return code"));
        /* The probe is in another database: look from this one. */
        sqllock_client *p = NULL;
        snprintf(url, sizeof(url), "%s;Database=sqllock_norc;APP=%s", base, t_tag("p"));
        CHECK_ST(sqllock_connect(&p, url), SQLLOCK_OK, p);
        CHECK_ST(sqllock_acquire(&l, p, name, NULL), SQLLOCK_OK, p);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, p);
        sqllock_client_free(p);
    }
    sqllock_client_free(c);
}

/* Failed waits and tries inside the caller's transaction neither end it
   nor lose what it holds: the driver rolls back when autocommit is turned
   on, so the adapter must never toggle it. */
static void t_caller_transaction_survives(void)
{
    const char *mine = t_tag("mine"), *busy = t_tag("busy");
    struct t_odbc o;
    CHECK(t_odbc_open(&o, t_url(), t_tag("o")));
    sqllock_client *c = t_odbc_attach(&o), *h = t_client(t_tag("h"));
    CHECK(c && h);
    sqllock_lock *lh, *lm, *l;
    CHECK_ST(sqllock_acquire(&lh, h, busy, NULL), SQLLOCK_OK, h);
    CHECK(t_odbc_autocommit(&o, 0));
    sqllock_acquire_opts tx = t_opts(0, SQLLOCK_TRANSACTION);
    CHECK_ST(sqllock_acquire(&lm, c, mine, &tx), SQLLOCK_OK, c);
    for (int scope = 0; scope < 2; scope++) {
        sqllock_acquire_opts x = t_opts(200, scope);
        CHECK_ST(sqllock_acquire(&l, c, busy, &x), SQLLOCK_TIMEOUT, c);
        x.wait_ms = 0;
        CHECK_ST(sqllock_acquire(&l, c, busy, &x), SQLLOCK_BUSY, c);
    }
    CHECK(t_tds_ll(&o, "SELECT @@TRANCOUNT", NULL) == 1);
    CHECK_ST(sqllock_check(lm), SQLLOCK_OK, c);
    CHECK(!t_free_for_others(mine));
    CHECK(t_odbc_end(&o, SQL_COMMIT));
    CHECK(t_free_for_others(mine));
    CHECK_ST(sqllock_release(lm), SQLLOCK_LOST, c);
    CHECK(t_odbc_autocommit(&o, 1));
    CHECK_ST(sqllock_release(lh), SQLLOCK_OK, h);
    sqllock_client_free(c);
    sqllock_client_free(h);
    t_odbc_close(&o);
}

static const struct tcase cases[] = {
    {"round_trips", t_round_trips,
     "acquire, check and release each cost one round trip on the wire, measured by the server"},
    {"release_not_held_is_lost", t_release_not_held_is_lost,
     "a lock released behind the client's back (error 1223) is LOST on check and release"},
    {"unreadable_grant_released", t_unreadable_grant_released,
     "a grant whose reply has no return code fails the acquire and leaves nothing held"},
    {"caller_transaction_survives", t_caller_transaction_survives,
     "failed waits and tries inside the caller's transaction leave it open with its locks"},
};

T_MAIN(cases)
