/* SPDX-License-Identifier: MIT */
/*
 * Reconnecting over ODBC (psqlODBC to PostgreSQL): a client of its own
 * whose session was terminated, or whose server restarted or was down for
 * 3 s, opens its connection again on its next acquire, with the same
 * setup as the first connect; the old session's locks say LOST and are
 * never taken again behind the caller's back; a lease (a row) survives
 * and stays its holder's. An attached connection is never reopened. The
 * SQL Server route (FreeTDS to the emulator's KILL) is the shared suite's
 * terminated_backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "odbc_support.h"
#include "reconnect.h"

/* The one session of this process that named itself (no application
   name in the URL: the setup of our own connection names it). */
static int own_pid(PGconn *admin)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "sqllock[%ld]@%%", (long)getpid());
    return (int)t_sql_ll(admin,
                         "SELECT CASE count(*) WHEN 1 THEN max(pid) ELSE -count(*) END"
                         " FROM pg_stat_activity WHERE application_name LIKE $1",
                         pat, NULL);
}

static sqllock_client *plain_client(void)
{
    const char *url = t_env("SQLLOCK_TEST_ODBC_PG_URL");
    sqllock_client *c = NULL;
    if (url && sqllock_connect(&c, url) != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "connect: %s", sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

/* Whether another client could take the lease on name now. */
static int lease_free(const char *name)
{
    sqllock_client *o = t_client(t_tag("probe"));
    sqllock_acquire_opts try = t_lease(1000, 0);
    sqllock_lock *l = NULL;
    int ok = o && sqllock_acquire(&l, o, name, &try) == SQLLOCK_OK;
    if (l)
        sqllock_release(l);
    sqllock_client_free(o);
    return ok;
}

static int terminate(PGconn *admin, int pid)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    return t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", p, NULL) == 1;
}

/*
 * A terminated session: the advisory lock is LOST and its name free; the
 * next acquire opens a new session that names itself again (the setup
 * ran anew), waits and times out through freshly prepared statements,
 * and the lease taken before still checks, extends and releases as its
 * holder's. The lost lock is taken again only when asked.
 */
static void t_reconnect_after_terminate(void)
{
    const char *name = t_tag("held"), *other = t_tag("other"), *lname = t_tag("lease");
    const char *busy = t_tag("busy");
    sqllock_client *c = plain_client(), *h = t_client(t_tag("h"));
    PGconn *admin = t_admin();
    CHECK(c && h && admin);
    sqllock_lock *l, *ll, *l2, *l3, *hl, *w = NULL;
    sqllock_acquire_opts lease = t_lease(60000, 0), wait = t_opts(150, SQLLOCK_SESSION);
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire(&ll, c, lname, &lease), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire(&hl, h, busy, NULL), SQLLOCK_OK, h);
    CHECK_ST(sqllock_acquire(&w, c, busy, &wait), SQLLOCK_TIMEOUT, c); /* starts the watcher */
    int before = own_pid(admin);
    CHECK(before > 0 && terminate(admin, before));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&l2, c, other, NULL), SQLLOCK_OK, c);
    printf("odbc: reconnected and acquired %lld ms after the loss was seen\n", t_now_ms() - t0);
    int after = own_pid(admin);
    CHECKF(after > 0 && after != before, "session before %d, after %d", before, after);
    CHECK(t_free_for_others(name));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    CHECK(strstr(sqllock_errmsg(c), "connected again") != NULL);
    CHECK_ST(sqllock_acquire(&w, c, busy, &wait), SQLLOCK_TIMEOUT, c);
    CHECK_ST(sqllock_check(ll), SQLLOCK_OK, c);
    CHECK_ST(sqllock_extend(ll, 60000), SQLLOCK_OK, c);
    CHECK(!lease_free(lname));
    CHECK_ST(sqllock_release(ll), SQLLOCK_OK, c);
    CHECK(lease_free(lname));
    CHECK_ST(sqllock_acquire(&l3, c, name, NULL), SQLLOCK_OK, c);
    CHECK(!t_free_for_others(name));
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l3), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(hl), SQLLOCK_OK, h);
    sqllock_client_free(c);
    sqllock_client_free(h);
    PQfinish(admin);
}

/* An immediate restart: the check sees the break, the next acquire
   reconnects and takes the same name. */
static void t_reconnect_after_restart(void)
{
    sqllock_client *c = plain_client();
    t_reconnect_after_restart_of(c, t_tag("rr"), "odbc: ");
    sqllock_client_free(c);
}

/* The server is down for 3 s: the acquire meanwhile is ECONNECT at once
   (a refused connect, its message without the URL's PWD=), and the first
   acquire after the server is back reconnects. */
static void t_reconnect_after_down(void)
{
    const char *url = t_env("SQLLOCK_TEST_ODBC_PG_URL"), *p = url ? strstr(url, "PWD=") : NULL;
    CHECK(p && p[4] && p[4] != ';');
    char pw[128];
    snprintf(pw, sizeof(pw), "%.*s", (int)strcspn(p + 4, ";"), p + 4);
    sqllock_client *c = plain_client();
    t_reconnect_after_down_of(c, t_tag("down"), "odbc: ", pw);
    sqllock_client_free(c);
}

/* The caller's HDBC is the caller's: after its session is terminated
   every acquire is ECONNECT, no new session appears, and the driver
   still says the caller's connection is dead. */
static void t_attached_never_reconnects(void)
{
    const char *url = t_env("SQLLOCK_TEST_ODBC_PG_URL"), *app = t_tag("att");
    struct t_odbc o;
    PGconn *admin = t_admin();
    CHECK(url && admin && t_odbc_open(&o, url, app));
    sqllock_client *c = t_odbc_attach(&o);
    CHECK(c);
    sqllock_lock *l, *l2 = NULL;
    CHECK_ST(sqllock_acquire(&l, c, t_tag("a"), NULL), SQLLOCK_OK, c);
    CHECK(terminate(admin, t_pid(admin, app)));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    for (int i = 0; i < 2; i++)
        CHECK_ST(sqllock_acquire(&l2, c, t_tag("b"), NULL), SQLLOCK_ECONNECT, c);
    CHECK(t_pid(admin, app) == 0);
    SQLUINTEGER dead = SQL_CD_FALSE;
    CHECK(SQL_SUCCEEDED(SQLGetConnectAttr(o.dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)));
    CHECK(dead == SQL_CD_TRUE);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    sqllock_client_free(c);
    t_odbc_close(&o);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"reconnect_after_terminate", t_reconnect_after_terminate,
     "a terminated session: LOST, then the next acquire reconnects with the same setup; the "
     "lost lock is not retaken unasked and the lease stays the holder's"},
    {"reconnect_after_restart", t_reconnect_after_restart,
     "after pg_ctl restart -m immediate the same ODBC client reconnects on its next acquire"},
    {"reconnect_after_down", t_reconnect_after_down,
     "server down 3 s: ECONNECT (no password shown), then the same client reconnects"},
    {"attached_never_reconnects", t_attached_never_reconnects,
     "an attached HDBC whose session was terminated is never reopened: ECONNECT"},
};

T_MAIN(cases)
