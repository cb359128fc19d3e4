/* SPDX-License-Identifier: MIT */
/*
 * Scenario 2, contended: 2, 4 and 16 processes take one name in turn,
 * waiting forever, and release it at once. Each process records, on
 * CLOCK_MONOTONIC (one clock for the whole machine), when its acquire
 * returned and when its release was called and returned. Sorted by acquire
 * time, consecutive acquisitions by different processes give the handoff:
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

struct carg {
    const struct bench_backend *b;
    double seconds;
    char name[96];
};

/* One acquisition as a worker saw it. */
struct event {
    int64_t acquired, release_called, released;
    int32_t worker, pad;
};

static int cmp_event(const void *x, const void *y)
{
    const struct event *a = x, *b = y;
    return (a->acquired > b->acquired) - (a->acquired < b->acquired);
}

static int worker(struct crew_ctx *ctx, void *argp)
{
    const struct carg *a = argp;
    sqllock_client *c = NULL;
    if (sqllock_connect(&c, a->b->url) != SQLLOCK_OK) {
        fprintf(stderr, "bench: connect %s: %s\n", a->b->label, sqllock_errmsg(c));
        sqllock_client_free(c);
        return -1;
    }
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.wait_ms = SQLLOCK_WAIT_FOREVER;
    size_t cap = 1 << 16, n = 0;
    struct event *ev = malloc(cap * sizeof(*ev));
    int rc = ev ? crew_ready(ctx) : -1;
    int64_t end = bench_now_ns() + (int64_t)(a->seconds * 1e9);
    while (rc == 0 && bench_now_ns() < end) {
        sqllock_lock *l;
        sqllock_status st = sqllock_acquire(&l, c, a->name, &opts);
        int64_t t_acq = bench_now_ns();
        if (st == SQLLOCK_OK) {
            int64_t t_call = bench_now_ns();
            st = sqllock_release(l);
            if (n < cap)
                ev[n++] = (struct event){t_acq, t_call, bench_now_ns(), ctx->index, 0};
        }
        if (st != SQLLOCK_OK) {
            fprintf(stderr, "bench: contended: %s: %s\n", sqllock_status_str(st),
                    sqllock_errmsg(c));
            rc = -1;
        }
    }
    if (rc == 0 && write_all(ctx->out_fd, ev, n * sizeof(*ev)) != 0)
        rc = -1;
    free(ev);
    sqllock_client_free(c);
    return rc;
}

/* One contended run: acquisitions/s, and handoff samples in ns. */
static double run_contended(const struct bench_cfg *cfg, const struct bench_backend *b, int n,
                            struct samples *handoff, struct samples *from_call)
{
    struct carg a = {b, cfg->seconds, ""};
    snprintf(a.name, sizeof(a.name), "bench:contended:%ld", (long)getpid());
    struct crew crew;
    if (crew_start(&crew, n, worker, &a) != 0)
        return -1;
    int ok = crew_go(&crew) == 0;
    struct event *all = NULL;
    size_t total = 0;
    for (int i = 0; i < n && ok; i++) {
        char *buf;
        size_t len;
        if (crew_collect(&crew, i, &buf, &len) != 0 || len % sizeof(struct event)) {
            ok = 0;
            break;
        }
        struct event *p = realloc(all, (total + len / sizeof(*p)) * sizeof(*p) + 1);
        if (p) {
            memcpy(p + total, buf, len);
            all = p;
            total += len / sizeof(*p);
        }
        ok = p != NULL;
        free(buf);
    }
    if (crew_finish(&crew) != 0 || !ok || total < 2) {
        fprintf(stderr, "bench: contended %s, %d processes: a worker failed\n", b->label, n);
        free(all);
        return -1;
    }
    qsort(all, total, sizeof(*all), cmp_event);
    for (size_t i = 1; i < total && ok; i++)
        if (all[i].worker != all[i - 1].worker)
            ok = samples_add(handoff, all[i].acquired - all[i - 1].released) == 0 &&
                 samples_add(from_call, all[i].acquired - all[i - 1].release_called) == 0;
    double span = (double)(all[total - 1].released - all[0].acquired) / 1e9;
    free(all);
    return ok && span > 0 ? (double)total / span : -1;
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
