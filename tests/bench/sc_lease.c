/* SPDX-License-Identifier: MIT */
/*
 * Scenario 6, leases beside advisory locks, on the PostgreSQL rows that have
 * leases (libpq over the Unix socket and TCP; over psqlODBC only the
 * one-waiter handoff, as its waiters poll). Every figure runs its sides in
 * turns within one round (advisory, lease with synchronous_commit off,
 * lease with it on: set per session in the URL and checked with SHOW), so
 * that a drift of the machine hits them all alike, and sits beside the
 * advisory figure of the same rounds. Here: uncontended acquire+release
 * pairs/s of 1, 4 and 16 processes, each on its own name (sc_uncontended's
 * workers); the handoffs are in sc_lease_handoff.c, the wake-ups of one
 * release among many names in sc_lease_wake.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenarios.h"

void lease_emit(const struct bench_backend *b, const struct lease_sides *sd, int clients,
                const char *metric, const double *value, const double *p50, const double *p99,
                const double *ratio)
{
    for (int s = 1; s < sd->n; s++) {
        struct figure f = {"lease",
                           b->label,
                           clients,
                           sd->tag[s],
                           metric,
                           value[s],
                           p50 ? p50[s] : NAN,
                           p99 ? p99[s] : NAN,
                           sd->tag[0],
                           value[0],
                           ratio           ? ratio[s]
                           : value[0] != 0 ? value[s] / value[0]
                                           : NAN};
        figure_emit(&f);
    }
}

/* url with the session's synchronous_commit set, in the URL's own syntax
   (a URI takes a query parameter, a key=value string one more pair). */
static int with_sync(char *out, size_t n, const char *url, const char *value)
{
    int uri = strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
    int len = uri ? snprintf(out, n, "%s%coptions=-csynchronous_commit%%3D%s", url,
                             strchr(url, '?') ? '&' : '?', value)
                  : snprintf(out, n, "%s options='-csynchronous_commit=%s'", url, value);
    return len > 0 && (size_t)len < n ? 0 : -1;
}

/* The synchronous_commit of the session a libpq URL makes, into out;
   0 or -1, reported. */
static int show_sync(const char *url, char *out, size_t n)
{
    PGconn *conn = PQconnectdb(url);
    PGresult *r =
        conn && PQstatus(conn) == CONNECTION_OK ? PQexec(conn, "SHOW synchronous_commit") : NULL;
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "bench: lease: SHOW synchronous_commit: %s",
                conn ? PQerrorMessage(conn) : "no memory\n");
    PQclear(r);
    PQfinish(conn);
    return ok ? 0 : -1;
}

static int check_sync(const char *url, const char *want)
{
    char got[32];
    if (show_sync(url, got, sizeof(got)) != 0)
        return -1;
    if (strcmp(got, want) == 0)
        return 0;
    fprintf(stderr, "bench: lease: synchronous_commit is %s, not %s, on the lease URL\n", got,
            want);
    return -1;
}

static int make_sides(struct lease_sides *sd, const struct bench_backend *b, int odbc)
{
    static const char *const sync[] = {"off", "on"};
    memset(sd, 0, sizeof(*sd));
    sd->tag[0] = "advisory";
    snprintf(sd->url[0], sizeof(sd->url[0]), "%s", b->url);
    if (odbc) {
        /* psqlODBC's session has the server's setting, as a libpq session
           without options to the same server has (the baseline). */
        static char tag[48];
        char v[32];
        if (show_sync(b->baseline, v, sizeof(v)) != 0)
            return -1;
        snprintf(tag, sizeof(tag), "lease sc=%s", v);
        sd->tag[1] = tag;
        snprintf(sd->url[1], sizeof(sd->url[1]), "%s", b->url);
        sd->ttl_ms[1] = LEASE_TTL_MS;
        sd->n = 2;
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        sd->tag[1 + i] = i ? "lease sc=on" : "lease sc=off";
        sd->ttl_ms[1 + i] = LEASE_TTL_MS;
        if (with_sync(sd->url[1 + i], sizeof(sd->url[1 + i]), b->url, sync[i]) != 0 ||
            check_sync(sd->url[1 + i], sync[i]) != 0)
            return -1;
    }
    sd->n = 3;
    return 0;
}

static int pairs(const struct bench_cfg *cfg, const struct bench_backend *b,
                 const struct lease_sides *sd, int n)
{
    double v[LEASE_MAX_SIDES][BENCH_MAX_ROUNDS], r[LEASE_MAX_SIDES][BENCH_MAX_ROUNDS];
    struct samples lat[LEASE_MAX_SIDES] = {{0}};
    int ok = 1;
    for (int k = 0; k < cfg->rounds && ok; k++)
        for (int s = 0; s < sd->n && ok; s++) {
            v[s][k] = uncontended_pairs(cfg, b, sd->url[s], sd->ttl_ms[s], n, &lat[s]);
            ok = v[s][k] > 0;
            r[s][k] = v[s][k] / v[0][k];
        }
    double med[LEASE_MAX_SIDES] = {0}, p50[LEASE_MAX_SIDES] = {0}, p99[LEASE_MAX_SIDES] = {0},
           ratio[LEASE_MAX_SIDES] = {0};
    for (int s = 0; s < sd->n && ok; s++) {
        samples_sort(&lat[s]);
        med[s] = median_d(v[s], cfg->rounds);
        p50[s] = samples_pct(&lat[s], 0.5) / 1e3;
        p99[s] = samples_pct(&lat[s], 0.99) / 1e3;
        ratio[s] = median_d(r[s], cfg->rounds);
    }
    if (ok)
        lease_emit(b, sd, n, "pairs_per_s", med, p50, p99, ratio);
    for (int s = 0; s < sd->n; s++)
        samples_free(&lat[s]);
    return ok ? 0 : -1;
}

int sc_lease(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    static const int counts[] = {1, 4, 16};
    int odbc = strncmp(b->url, "odbc:", 5) == 0;
    /* Leases here are PostgreSQL's: a row with a libpq baseline to it. */
    if (!b->baseline || strncmp(b->label, "pg-", 3) != 0)
        return 0;
    struct lease_sides sd;
    if (make_sides(&sd, b, odbc) != 0)
        return -1;
    for (int i = 0; i < (cfg->quick ? 2 : 3) && !odbc; i++)
        if (pairs(cfg, b, &sd, counts[i]) != 0)
            return -1;
    if (lease_handoff(cfg, b, &sd, odbc) != 0)
        return -1;
    return odbc ? 0 : lease_wake(cfg, b, &sd);
}
