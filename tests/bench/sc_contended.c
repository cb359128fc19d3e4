/* SPDX-License-Identifier: MIT */
/*
 * Scenario 2, contended: 2, 4 and 16 processes take one name in turn,
 * waiting, and release it at once (bench_handoff.c records when). Sorted by
 * acquire time, consecutive acquisitions by different processes give the
 * handoff:
 *   handoff     = acquire returned in B - release returned in A
 *   from-call   = acquire returned in B - release called in A
 * (the server answers A's unlock and grants B in the same instant, so the
 * first is mostly scheduling and can be negative; the second is the whole
 * cost of passing the lock on). Next to it, in turns, the round-trip floor:
 * a prepared SELECT 1 on one libpq connection of the same kind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqllock.h>

#include "scenarios.h"

/* One contended run: acquisitions/s, and handoff samples in ns. */
static double run_contended(const struct bench_cfg *cfg, const struct bench_backend *b, int n,
                            struct samples *handoff, struct samples *from_call)
{
    char name[96];
    snprintf(name, sizeof(name), "bench:contended:%ld", (long)getpid());
    struct handoff_spec spec = {b->label, b->url, name, cfg->seconds, 0};
    struct handoff_run run;
    if (handoff_run(&spec, n, &run) != 0)
        return -1;
    double rate = handoff_samples(&run, handoff, from_call) == 0 ? handoff_rate(&run) : -1;
    handoff_free(&run);
    return rate;
}

/* Prepared SELECT 1 round trips on one libpq connection, latencies in ns. */
static int run_floor(const char *conninfo, double seconds, struct samples *lat)
{
    PGconn *conn = PQconnectdb(conninfo);
    int ok = conn && PQstatus(conn) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQprepare(conn, "bench_one", "SELECT 1", 0, NULL);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    int64_t end = bench_now_ns() + (int64_t)(seconds * 1e9);
    for (int i = 0; ok && (i < 100 || bench_now_ns() < end); i++) {
        int64_t t0 = bench_now_ns();
        PGresult *r = PQexecPrepared(conn, "bench_one", 0, NULL, NULL, NULL, 0);
        int64_t t1 = bench_now_ns();
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (ok && i >= 100) /* the first hundred warm up */
            ok = samples_add(lat, t1 - t0) == 0;
    }
    if (!ok)
        fprintf(stderr, "bench: SELECT 1 floor: %s",
                conn ? PQerrorMessage(conn) : "no memory\n");
    PQfinish(conn);
    return ok ? 0 : -1;
}

static int one_count(const struct bench_cfg *cfg, const struct bench_backend *b, int n)
{
    double acq[BENCH_MAX_ROUNDS];
    struct samples h = {0}, hc = {0}, fl = {0};
    int ok = 1;
    for (int r = 0; r < cfg->rounds && ok; r++) {
        acq[r] = run_contended(cfg, b, n, &h, &hc);
        ok = acq[r] > 0 && run_floor(b->baseline, cfg->seconds / 2, &fl) == 0;
    }
    if (ok) {
        samples_sort(&h);
        samples_sort(&hc);
        samples_sort(&fl);
        double floor50 = samples_pct(&fl, 0.5) / 1e3;
        struct figure f = {"contended",
                           b->label,
                           n,
                           "sqllock",
                           "acquires_per_s",
                           median_d(acq, cfg->rounds),
                           NAN,
                           NAN,
                           NULL,
                           NAN,
                           NAN};
        figure_emit(&f);
        struct figure g = {"contended",
                           b->label,
                           n,
                           "rel-returned",
                           "handoff_us",
                           samples_pct(&h, 0.5) / 1e3,
                           samples_pct(&h, 0.5) / 1e3,
                           samples_pct(&h, 0.99) / 1e3,
                           "SELECT 1 p50 (libpq)",
                           floor50,
                           NAN};
        g.ratio = g.value / floor50;
        figure_emit(&g);
        g.variant = "rel-called";
        g.value = g.p50 = samples_pct(&hc, 0.5) / 1e3;
        g.p99 = samples_pct(&hc, 0.99) / 1e3;
        g.ratio = g.value / floor50;
        figure_emit(&g);
        struct figure s = {"contended",
                           b->label,
                           1,
                           "SELECT 1",
                           "round_trip_us",
                           floor50,
                           floor50,
                           samples_pct(&fl, 0.99) / 1e3,
                           NULL,
                           NAN,
                           NAN};
        figure_emit(&s);
    }
    samples_free(&h);
    samples_free(&hc);
    samples_free(&fl);
    return ok ? 0 : -1;
}

int sc_contended(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    static const int counts[] = {2, 4, 16};
    if (!b->baseline)
        return 0;
    int n = cfg->quick ? 2 : 3;
    for (int i = 0; i < n; i++)
        if (one_count(cfg, b, counts[i]) != 0)
            return -1;
    return 0;
}
