/* SPDX-License-Identifier: MIT */
/*
 * What the server saw, for the lease scenario: transactions of the
 * benchmark's database from pg_stat_database (each autocommit statement is
 * one), and sqllock's sessions in pg_stat_activity. The reading connection
 * goes to the "postgres" database so that its own statements are not
 * counted. PostgreSQL 15 flushes a backend's counters at most once a second
 * while it lives (and at exit), so counts are read once they stop moving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scenarios.h"

#define SETTLE_STEP_NS 100000000LL
#define SETTLE_MAX_NS 3000000000LL

static void nap_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int pgstat_open(struct pgstat *s, const char *conninfo)
{
    memset(s, 0, sizeof(*s));
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && (strcmp(o->keyword, "dbname") == 0 ||
                       (strcmp(o->keyword, "user") == 0 && !s->db[0])))
            snprintf(s->db, sizeof(s->db), "%s", o->val);
    PQconninfoFree(opts);
    /* The second dbname overrides the database of the expanded first. */
    const char *kw[] = {"dbname", "dbname", NULL}, *val[] = {conninfo, "postgres", NULL};
    s->conn = PQconnectdbParams(kw, val, 1);
    if (!s->db[0] || !s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        fprintf(stderr, "bench: statistics connection: %s",
                s->conn ? PQerrorMessage(s->conn) : "no memory or no database name\n");
        pgstat_close(s);
        return -1;
    }
    return 0;
}

void pgstat_close(struct pgstat *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
}

/* One read of the counter; -1 on error. Each call is a transaction of its
   own, so the statistics snapshot is fresh. */
static int64_t read_xacts(struct pgstat *s)
{
    const char *p[] = {s->db};
    PGresult *r =
        PQexecParams(s->conn,
                     "SELECT xact_commit + xact_rollback FROM pg_catalog.pg_stat_database"
                     " WHERE datname = $1",
                     1, NULL, p, NULL, NULL, 0);
    int64_t v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                    ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                    : -1;
    if (v < 0)
        fprintf(stderr, "bench: pg_stat_database: %s", PQerrorMessage(s->conn));
    PQclear(r);
    return v;
}

int64_t pgstat_xacts(struct pgstat *s)
{
    int64_t v = read_xacts(s), start = bench_now_ns();
    while (v >= 0 && bench_now_ns() - start < SETTLE_MAX_NS) {
        nap_ns(SETTLE_STEP_NS);
        int64_t w = read_xacts(s);
        if (w == v)
            break;
        v = w;
    }
    return v;
}

int pgstat_now(struct pgstat *s, char *buf, size_t n)
{
    PGresult *r = PQexec(s->conn, "SELECT pg_catalog.clock_timestamp()::text");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return ok ? 0 : -1;
}

int pgstat_backends(struct pgstat *s, const pid_t *pids, int n, const char *since,
                    struct pgstat_backend *out)
{
    const char *p[] = {s->db, since};
    /* sqllock names its sessions "sqllock[<client pid>]@<host>". Waiting:
       in the server's lock queue, or idle after a statement sent since. */
    PGresult *r = PQexecParams(s->conn,
                               "SELECT application_name, coalesce(query_start::text, ''), pid,"
                               " (wait_event_type IS NOT DISTINCT FROM 'Lock' OR (state = 'idle'"
                               "  AND query_start > $2::timestamptz))::int"
                               " FROM pg_catalog.pg_stat_activity WHERE datname = $1"
                               " AND application_name LIKE 'sqllock[%'",
                               2, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench: pg_stat_activity: %s", PQerrorMessage(s->conn));
    for (int i = 0; i < n; i++)
        out[i] = (struct pgstat_backend){0};
    for (int row = 0; ok && row < PQntuples(r); row++) {
        long pid;
        if (sscanf(PQgetvalue(r, row, 0), "sqllock[%ld]", &pid) != 1)
            continue;
        for (int i = 0; i < n; i++)
            if (pids[i] == (pid_t)pid) {
                out[i].seen = 1;
                snprintf(out[i].query_start, sizeof(out[i].query_start), "%s",
                         PQgetvalue(r, row, 1));
                out[i].backend = (pid_t)atol(PQgetvalue(r, row, 2));
                out[i].waiting = strcmp(PQgetvalue(r, row, 3), "1") == 0;
            }
    }
    PQclear(r);
    return ok ? 0 : -1;
}
