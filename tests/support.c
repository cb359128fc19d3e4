/* SPDX-License-Identifier: MIT */
/* See support.h. */
#define _GNU_SOURCE /* strcasestr */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

long long t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int t_nonblocking(void)
{
    const char *v = getenv("SQLLOCK_SUITE_NONBLOCKING");
    return v && strcmp(v, "1") == 0;
}

sqllock_status t_drive(sqllock_lock **out, sqllock_client *c, sqllock_status st)
{
    sqllock_lock *ignored;
    /* Ten minutes, the longest any case waits, in ticks of at most 20 ms
       (the tick is how a sqllock_cancel from another thread, which cannot
       wake this poll, is noticed: a real loop would wake itself). */
    for (long long end = t_now_ms() + 600000; st == SQLLOCK_PENDING && t_now_ms() < end;) {
        int ev = sqllock_events(c);
        struct pollfd p = {.fd = sqllock_socket(c),
                           .events = (short)(((ev & SQLLOCK_EV_READ) ? POLLIN : 0) |
                                             ((ev & SQLLOCK_EV_WRITE) ? POLLOUT : 0))};
        int64_t t = sqllock_timeout_ms(c);
        (void)poll(&p, p.fd >= 0 ? 1 : 0, t < 0 || t > 20 ? 20 : (int)t);
        st = sqllock_poll(out ? out : &ignored, c);
    }
    return st;
}

const char *t_env(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    if (getenv("SQLLOCK_TEST_REQUIRE_SERVER"))
        t_fail(__FILE__, __LINE__, "%s is not set and a server is required", name);
    else
        t_skip("no server configured (set SQLLOCK_TEST_URL and friends, or run ci/test)");
    return NULL;
}

/* SQLLOCK_SUITE_URL_EXTRA is appended: connection string attributes that
   select one run of several against one server (a TDS version, the TDS
   emulator's switches), separated by commas (ctest's lists take ';'). */
const char *t_url(void)
{
    static char buf[2048];
    const char *var = getenv("SQLLOCK_SUITE_URL_VAR");
    const char *url = t_env(var && *var ? var : "SQLLOCK_TEST_URL");
    const char *extra = getenv("SQLLOCK_SUITE_URL_EXTRA");
    if (!url || !extra || !*extra)
        return url;
    snprintf(buf, sizeof(buf), "%s;%s", url, extra);
    for (char *p = buf + strlen(url); *p; p++)
        if (*p == ',')
            *p = ';';
    return buf;
}

const char *t_tag(const char *prefix)
{
    static char buf[256][96];
    static int n;
    char *b = buf[n % 256];
    snprintf(b, sizeof(buf[0]), "%s-%ld-%d", prefix, (long)getpid(), n);
    n++;
    return b;
}

static char *with_appname(const char *url, const char *appname)
{
    size_t len = strlen(url) + strlen(appname) + 32;
    char *s = malloc(len);
    if (!s)
        return NULL;
    if (strncmp(url, "odbc:", 5) == 0 && strcasestr(url, "Driver=FreeTDS"))
        snprintf(s, len, "%s;APP=%s", url, appname); /* LOGIN7's program name */
    else if (strncmp(url, "odbc:", 5) == 0)          /* psqlODBC passes pqopt on to libpq */
        snprintf(s, len, "%s%spqopt={application_name=%s}", url,
                 url[strlen(url) - 1] == ';' ? "" : ";", appname);
    else if (strncmp(url, "postgres", 8) == 0)
        snprintf(s, len, "%s%sapplication_name=%s", url, strchr(url, '?') ? "&" : "?", appname);
    else
        snprintf(s, len, "%s application_name=%s", url, appname);
    return s;
}

sqllock_client *t_client(const char *appname)
{
    const char *url = t_url();
    if (!url)
        return NULL;
    char *full = with_appname(url, appname);
    sqllock_client *c = NULL;
    /* The non-blocking run connects without blocking too (libpq URLs). */
    sqllock_status st;
    if (t_nonblocking() && strncmp(full, "odbc:", 5) != 0) {
        st = sqllock_connect_start(&c, full); /* before c is read */
        st = t_drive(NULL, c, st);
    } else {
        st = sqllock_connect(&c, full);
    }
    free(full);
    if (st != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "connect failed: %s", sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

static PGconn *pq_open(const char *url, const char *appname)
{
    char *full = with_appname(url, appname);
    PGconn *pc = PQconnectdb(full);
    free(full);
    if (PQstatus(pc) != CONNECTION_OK) {
        t_fail(__FILE__, __LINE__, "libpq connect failed: %s", PQerrorMessage(pc));
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

PGconn *t_admin(void)
{
    const char *url = t_env("SQLLOCK_TEST_ADMIN_URL");
    return url ? pq_open(url, "sqllock-test-admin") : NULL;
}

PGconn *t_admin_as(const char *appname)
{
    const char *url = t_env("SQLLOCK_TEST_ADMIN_URL");
    return url ? pq_open(url, appname) : NULL;
}

PGconn *t_pq(const char *appname)
{
    const char *url = t_url();
    return url ? pq_open(url, appname) : NULL;
}

long long t_sql_ll(PGconn *pc, const char *sql, const char *p1, const char *p2)
{
    const char *params[2] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(pc, sql, n, NULL, params, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        t_fail(__FILE__, __LINE__, "%s: %s", sql, PQerrorMessage(pc));
    PQclear(r);
    return v;
}

int t_exec(PGconn *pc, const char *sql)
{
    PGresult *r = PQexec(pc, sql);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 1;
    t_fail(__FILE__, __LINE__, "%s: %s", sql, PQerrorMessage(pc));
    return 0;
}

int t_pid(PGconn *admin, const char *appname)
{
    return (int)t_sql_ll(admin,
                         "SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
                         "WHERE application_name = $1",
                         appname, NULL);
}

int t_holds(PGconn *admin, int pid, int64_t key)
{
    char p[16], k[24];
    snprintf(p, sizeof(p), "%d", pid);
    snprintf(k, sizeof(k), "%lld", (long long)key);
    return (int)t_sql_ll(admin,
                         "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                         " AND pid = $1::int AND objsubid = 1"
                         " AND classid = (($2::int8 >> 32) & 4294967295)::oid"
                         " AND objid = ($2::int8 & 4294967295)::oid",
                         p, k);
}

long long t_advisory_count(PGconn *admin, int pid, const char *granted)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    return t_sql_ll(admin,
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1::int"
                    " AND granted = $2::bool",
                    p, granted);
}

int t_wait_blocked(PGconn *admin, int pid, int timeout_ms)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    long long end = t_now_ms() + timeout_ms;
    do {
        if (t_sql_ll(admin, "SELECT count(*) FROM pg_locks WHERE pid = $1::int AND NOT granted",
                     p, NULL) > 0)
            return 1;
        usleep(2000);
    } while (t_now_ms() < end);
    return 0;
}

sqllock_acquire_opts t_opts(int64_t wait_ms, int scope)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = wait_ms;
    o.scope = scope;
    return o;
}

sqllock_acquire_opts t_lease(int64_t ttl_ms, int64_t wait_ms)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = ttl_ms;
    o.wait_ms = wait_ms;
    return o;
}

int t_free_for_others(const char *name)
{
    sqllock_client *c = t_client(t_tag("probe"));
    sqllock_lock *l = NULL;
    int ok = c && sqllock_acquire(&l, c, name, NULL) == SQLLOCK_OK;
    if (l)
        sqllock_release(l);
    sqllock_client_free(c);
    return ok;
}
