/* SPDX-License-Identifier: MIT */
/*
 * The C side of odbc_pool.sh, run with unixODBC driver-manager pooling on
 * (odbcinst.ini: [ODBC] Pooling = Yes, CPTimeout on the driver):
 *
 *   pool_odbc ODBC_URL ADMIN_URL NAME
 *
 * ODBC_URL is "odbc:<connection string>"; ADMIN_URL a libpq superuser URL
 * of the same server, from which pg_locks and pg_stat_activity are read.
 * Sessions are told apart by application_name (psqlODBC's pqopt).
 *
 * Proves that sqllock_client_free leaves no lock on the server although a
 * pooled physical connection may outlive it, and that a client handed that
 * connection again neither holds nor believes it holds the lock. Prints
 * "pooled-app: yes|no" (the application's own connections are pooled:
 * the setup works), "pooled-sqllock: reused|kept|closed" (what became of
 * sqllock's physical connection) and "pooled-app-after: yes|no" (whether
 * the application's pooling survived sqllock's SQL_CP_OFF). Exit 0 when
 * nothing unsafe was seen, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sql.h>
#include <sqlext.h>

#include "pool_check.h"
#include "sqllock.h"

static PGconn *admin;

/* First field of the one-row answer to sql with one text parameter; -1 on
   error. */
static long long admin_ll(const char *sql, const char *param)
{
    PGresult *r = PQexecParams(admin, sql, 1, NULL, &param, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoll(PQgetvalue(r, 0, 0));
    else
        fail("%s: %s", sql, PQerrorMessage(admin));
    PQclear(r);
    return v;
}

/* The oldest and the newest live backend with this application_name
   (0 when none), and how many there are. */
static long long backends(const char *app, int *oldest, int *newest)
{
    PGresult *r = PQexecParams(admin,
                               "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
                               " ORDER BY backend_start, pid",
                               1, NULL, &app, NULL, NULL, 0);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1;
    if (n < 0)
        fail("pg_stat_activity: %s", PQerrorMessage(admin));
    *oldest = n > 0 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    *newest = n > 0 ? atoi(PQgetvalue(r, (int)n - 1, 0)) : 0;
    PQclear(r);
    return n;
}

static long long advisory_held_by(int pid)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    return admin_ll("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = $1::int",
                    p);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A closed (not pooled) connection's locks go when its backend has exited,
   which happens after SQLDisconnect returns: polled, bounded. A pooled one
   keeps them for CPTimeout (60 s), far past this bound. */
static long long advisory_held_settled(int pid)
{
    long long n, deadline = now_ms() + 5000;
    struct timespec pause = {0, 20 * 1000000};
    while ((n = advisory_held_by(pid)) > 0 && now_ms() < deadline)
        nanosleep(&pause, NULL);
    return n;
}

/* Whether the driver manager hands the application's own connections back
   from its pool: the second connect gets the first one's backend. */
static int app_pooled(const char *connstr, const char *app)
{
    SQLHENV env = SQL_NULL_HENV;
    SQLHDBC dbc = SQL_NULL_HDBC;
    int pid[2] = {0, 0}, oldest, pooled = -1;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env)) ||
        !SQL_SUCCEEDED(SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0))) {
        fail("the driver manager could not allocate an environment");
        goto out;
    }
    for (int round = 0; round < 2; round++) {
        if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc)) ||
            !SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *)connstr, SQL_NTS, NULL, 0,
                                            NULL, SQL_DRIVER_NOPROMPT))) {
            fail("the application's own ODBC connect failed");
            goto out;
        }
        if (backends(app, &oldest, &pid[round]) < 1)
            fail("the application's connection has no backend named %s", app);
        SQLDisconnect(dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, dbc);
        dbc = SQL_NULL_HDBC;
    }
    pooled = pid[0] == pid[1];
out:
    if (dbc)
        SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    if (env)
        SQLFreeHandle(SQL_HANDLE_ENV, env);
    return pooled;
}

static char *url_as(const char *url, const char *app)
{
    size_t n = strlen(url) + strlen(app) + 32;
    char *s = malloc(n);
    if (!s) {
        fail("out of memory");
        exit(1);
    }
    snprintf(s, n, "%s%spqopt={application_name=%s}", url,
             url[strlen(url) - 1] == ';' ? "" : ";", app);
    return s;
}

static void run(const char *url, const char *name)
{
    char *url_a = url_as(url, "pool-odbc-a"), *url_b = url_as(url, "pool-odbc-b");
    char *raw = url_as(url + strlen("odbc:"), "pool-odbc-raw");
    sqllock_client *c1 = NULL, *c2 = NULL, *other = NULL;
    sqllock_lock *l = NULL, *lo = NULL;
    int pid1, pid2, oldest;

    int pooled_app = app_pooled(raw, "pool-odbc-raw");
    printf("pooled-app: %s\n", pooled_app ? "yes" : "no");
    if (pooled_app != 1)
        fail("the application's own connections are not pooled: the setup is wrong");

    sqllock_status st = sqllock_connect(&c1, url_a);
    if (!expect("first client connects", st, SQLLOCK_OK, c1) ||
        !expect("first client acquires", sqllock_acquire(&l, c1, name, NULL), SQLLOCK_OK, c1))
        goto out;
    backends("pool-odbc-a", &pid1, &oldest);
    if (advisory_held_by(pid1) != 1)
        fail("the first client's backend %d does not hold the lock", pid1);
    sqllock_client_free(c1);
    c1 = NULL;
    if (advisory_held_settled(pid1) != 0)
        fail("sqllock_client_free left the lock held by backend %d", pid1);

    st = sqllock_connect(&c2, url_a);
    if (!expect("second client connects", st, SQLLOCK_OK, c2))
        goto out;
    long long n = backends("pool-odbc-a", &oldest, &pid2);
    printf("pooled-sqllock: %s\n", pid2 == pid1 ? "reused" : n > 1 ? "kept" : "closed");

    /* The second client gets nothing from the first: another session takes
       the lock, the second client waits its turn, then has it alone. */
    st = sqllock_connect(&other, url_b);
    if (!expect("another session connects", st, SQLLOCK_OK, other) ||
        !expect("another session acquires", sqllock_acquire(&lo, other, name, NULL), SQLLOCK_OK,
                other))
        goto out;
    expect("second client tries while the other session holds it",
           sqllock_acquire(&l, c2, name, NULL), SQLLOCK_BUSY, c2);
    expect("other session releases", sqllock_release(lo), SQLLOCK_OK, other);
    if (expect("second client acquires", sqllock_acquire(&l, c2, name, NULL), SQLLOCK_OK, c2)) {
        if (advisory_held_by(pid2) != 1)
            fail("the second client's backend %d does not hold the lock", pid2);
        expect("second client releases", sqllock_release(l), SQLLOCK_OK, c2);
    }
    if (advisory_held_by(pid2) != 0)
        fail("backend %d still holds the lock after the second client released it", pid2);
out:
    sqllock_client_free(c1);
    sqllock_client_free(c2);
    sqllock_client_free(other);
    int after = app_pooled(raw, "pool-odbc-raw");
    printf("pooled-app-after: %s\n", after ? "yes" : "no");
    free(url_a);
    free(url_b);
    free(raw);
}

int main(int argc, char **argv)
{
    if (argc != 4 || strncmp(argv[1], "odbc:", 5) != 0) {
        fprintf(stderr, "usage: pool_odbc odbc:CONNECTION_STRING ADMIN_URL NAME\n");
        return 2;
    }
    admin = PQconnectdb(argv[2]);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "pool_odbc: admin connect: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return 1;
    }
    run(argv[1], argv[3]);
    PQfinish(admin);
    return failed;
}
