/* SPDX-License-Identifier: MIT */
/* The workload's connections and counter statements (workload.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "sqllock/pg.h"
#include "workload.h"

/* Fenced: the store keeps the highest token it has seen (counters.fence)
   and refuses anything older; the UPDATE's row lock serialises the check. */
static const char *const sql_read_fenced =
    "UPDATE counters SET fence = GREATEST(fence, $2::int8) WHERE name = $1"
    " RETURNING value, fence = $2::int8, clock_timestamp()";
static const char *const sql_read =
    "SELECT value, true, clock_timestamp() FROM counters WHERE name = $1";
/* fence_log's id must be drawn after f took the row lock: the OFFSET 0
   subquery is computed before the outer row (and its defaults) is. */
static const char *const sql_write_fenced =
    "WITH f AS (UPDATE counters SET value = $2::int8, fence = $4::int8"
    "  WHERE name = $1 AND fence <= $4::int8 RETURNING value),"
    " c AS (INSERT INTO counter_log (name, value, proc, token, ts)"
    "  SELECT $1, value, $3, $4::int8, clock_timestamp() FROM f),"
    " l AS (INSERT INTO fence_log (name, token, proc, ts, accepted)"
    "  SELECT $1, $4::int8, $3, clock_timestamp(), a"
    "  FROM (SELECT EXISTS (SELECT 1 FROM f) AS a OFFSET 0) s)"
    " SELECT 0, EXISTS (SELECT 1 FROM f), clock_timestamp()";
static const char *const sql_write =
    "WITH c AS (UPDATE counters SET value = $2::int8 WHERE name = $1 RETURNING value)"
    " INSERT INTO counter_log (name, value, proc, token, ts)"
    " SELECT $1, value, $3, $4::int8, clock_timestamp() FROM c"
    " RETURNING value, true, clock_timestamp()";

static int connect_once(struct wl *w)
{
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {w->url, "5", NULL};
    char nm[HIST_FIELD_MAX + 16];
    int i, ok;

    w->pc = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(w->pc) != CONNECTION_OK)
        return -1;
    for (i = 0; i < w->names; i++) {
        const char *p[1] = {nm};
        if (w->names == 1)
            snprintf(nm, sizeof nm, "%s", w->name);
        else
            snprintf(nm, sizeof nm, "%s.%d", w->name, i);
        PGresult *r = PQexecParams(w->pc,
                                   "INSERT INTO counters (name) VALUES ($1)"
                                   " ON CONFLICT (name) DO NOTHING",
                                   1, NULL, p, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            return -1;
    }
    switch (w->mode) {
    case WL_ADVISORY: /* the lock in the counter's session: a dead one cannot write */
        return sqllock_attach_pg(&w->cl, w->pc) == SQLLOCK_OK ? 0 : -1;
    case WL_LEASE: return sqllock_connect(&w->cl, w->url) == SQLLOCK_OK ? 0 : -1;
    case WL_BROKEN: return 0;
    }
    return -1;
}

void wl_disconnect(struct wl *w)
{
    sqllock_client_free(w->cl);
    w->cl = NULL;
    PQfinish(w->pc);
    w->pc = NULL;
}

int wl_connect(struct wl *w)
{
    int64_t backoff_ms = 20;
    int attempt;

    for (attempt = 0; attempt < 60 && hist_mono_ns() < w->end_ns; attempt++) {
        if (connect_once(w) == 0)
            return 0;
        wl_disconnect(w);
        struct timespec d = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000};
        nanosleep(&d, NULL);
        backoff_ms = backoff_ms < 500 ? backoff_ms * 2 : 1000;
    }
    return -1;
}

/* Runs one of the statements above; each returns one row (counter value,
   accepted, server time). */
static int run(struct wl *w, const char *sql, int n, const char *const *params, int64_t *value,
               char *server_ts, size_t ts_cap)
{
    PGresult *r = PQexecParams(w->pc, sql, n, NULL, params, NULL, NULL, 0);
    int rc = -1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        if (value)
            *value = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(server_ts, ts_cap, "%s", PQgetvalue(r, 0, 2));
        rc = strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? 0 : 1;
    }
    PQclear(r);
    return rc;
}

int wl_read(struct wl *w, const char *name, int64_t token, int64_t *value, char *server_ts,
            size_t ts_cap)
{
    char tok[24];
    const char *p[2] = {name, tok};

    snprintf(tok, sizeof tok, "%lld", (long long)token);
    if (w->fence)
        return run(w, sql_read_fenced, 2, p, value, server_ts, ts_cap);
    return run(w, sql_read, 1, p, value, server_ts, ts_cap);
}

int wl_write(struct wl *w, const char *name, int64_t token, int64_t value, char *server_ts,
             size_t ts_cap)
{
    char tok[24], val[24];
    const char *p[4] = {name, val, w->proc, token >= 0 ? tok : NULL};

    snprintf(tok, sizeof tok, "%lld", (long long)token);
    snprintf(val, sizeof val, "%lld", (long long)value);
    return run(w, w->fence ? sql_write_fenced : sql_write, 4, p, NULL, server_ts, ts_cap);
}
