/* SPDX-License-Identifier: MIT */
/*
 * Scenario 6, the lease handoffs: 1, 10 and 50 waiters (2, 11, 51
 * processes) on ONE name, advisory and lease sides in turns, with
 * bench_handoff.c's per-process event records. Handoff = the next holder's
 * acquire returned - the holder's release returned (p50, p99 over every
 * handoff of the rounds) and the holder-change share (consecutive
 * acquisitions by different processes). For the most waiters, fairness (the
 * longest wait of any process, acquire called -> returned; acquisitions per
 * process, min and max) and the server's statements per handoff: pg_stat_database's
 * transactions of the database around the run, less those of a run of the
 * same processes that only connect and warm up, over the handoffs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenarios.h"

/* What one side's rounds add up to. */
struct side_acc {
    struct samples handoff;
    double rate[BENCH_MAX_ROUNDS], share[BENCH_MAX_ROUNDS];
    double acq_min[BENCH_MAX_ROUNDS], acq_max[BENCH_MAX_ROUNDS];
    double longest_ms, stmts;
    size_t timeouts;
};

static void fairness(const struct handoff_run *run, int n, struct side_acc *a, int k)
{
    size_t per[BENCH_MAX_CLIENTS] = {0};
    for (size_t i = 0; i < run->n; i++)
        if (!run->ev[i].timed_out && run->ev[i].worker >= 0 && run->ev[i].worker < n)
            per[run->ev[i].worker]++;
    size_t lo = per[0], hi = per[0];
    for (int w = 1; w < n; w++) {
        lo = per[w] < lo ? per[w] : lo;
        hi = per[w] > hi ? per[w] : hi;
    }
    a->acq_min[k] = (double)lo;
    a->acq_max[k] = (double)hi;
    a->share[k] =
        run->acquisitions > 1 ? (double)run->handoffs / (double)(run->acquisitions - 1) : NAN;
    double longest = (double)run->longest_wait_ns / 1e6;
    a->longest_ms = longest > a->longest_ms ? longest : a->longest_ms;
    a->timeouts += run->timeouts;
}

/* One run of side s; with st, also its statements per handoff. */
static int one_run(const struct bench_cfg *cfg, const struct bench_backend *b,
                   const struct lease_sides *sd, int s, int n, int k, struct side_acc *a,
                   struct pgstat *st)
{
    char name[96];
    snprintf(name, sizeof(name), "bench:lease:%ld:%d", (long)getpid(), n);
    struct handoff_spec spec = {b->label, sd->url[s], name, 0, sd->ttl_ms[s]};
    struct handoff_run run;
    int64_t x0 = 0, x1 = 0, x2;
    if (st) { /* what the processes cost the server besides the handoffs */
        if ((x0 = pgstat_xacts(st)) < 0 || handoff_run(&spec, n, &run) != 0)
            return -1;
        handoff_free(&run);
        if ((x1 = pgstat_xacts(st)) < 0)
            return -1;
    }
    spec.seconds = cfg->seconds;
    if (handoff_run(&spec, n, &run) != 0)
        return -1;
    int ok =
        handoff_samples(&run, &a->handoff, NULL) == 0 && (a->rate[k] = handoff_rate(&run)) > 0;
    fairness(&run, n, a, k);
    if (ok && st) {
        ok = (x2 = pgstat_xacts(st)) >= 0;
        a->stmts = run.handoffs ? (double)((x2 - x1) - (x1 - x0)) / (double)run.handoffs : NAN;
    }
    handoff_free(&run);
    return ok ? 0 : -1;
}

static void emit_fairness(const struct bench_backend *b, const struct lease_sides *sd, int n,
                          struct side_acc *acc, int rounds)
{
    double v[LEASE_MAX_SIDES];
    size_t timeouts = 0;
#define EMIT(metric, expr)                                                                      \
    do {                                                                                        \
        for (int s = 0; s < sd->n; s++)                                                         \
            v[s] = (expr);                                                                      \
        lease_emit(b, sd, n, metric, v, NULL, NULL, NULL);                                      \
    } while (0)
    EMIT("longest_wait_ms", acc[s].longest_ms);
    EMIT("acq_per_proc_min", median_d(acc[s].acq_min, rounds));
    EMIT("acq_per_proc_max", median_d(acc[s].acq_max, rounds));
    EMIT("stmts_handoff", acc[s].stmts);
    for (int s = 0; s < sd->n; s++)
        timeouts += acc[s].timeouts;
    if (timeouts) /* waits that hit HANDOFF_WAIT_MS: starvation */
        EMIT("wait_timeouts", (double)acc[s].timeouts);
#undef EMIT
}

static int one_count(const struct bench_cfg *cfg, const struct bench_backend *b,
                     const struct lease_sides *sd, int waiters, int most)
{
    struct side_acc acc[LEASE_MAX_SIDES];
    struct pgstat st;
    memset(acc, 0, sizeof(acc));
    int n = waiters + 1, ok = !most || pgstat_open(&st, b->baseline) == 0;
    for (int k = 0; k < cfg->rounds && ok; k++)
        for (int s = 0; s < sd->n && ok; s++)
            ok = one_run(cfg, b, sd, s, n, k, &acc[s],
                         most && k == cfg->rounds - 1 ? &st : NULL) == 0;
    if (most)
        pgstat_close(&st);
    if (ok) {
        double rate[LEASE_MAX_SIDES] = {0}, p50[LEASE_MAX_SIDES] = {0},
               p99[LEASE_MAX_SIDES] = {0};
        for (int s = 0; s < sd->n; s++) {
            samples_sort(&acc[s].handoff);
            rate[s] = median_d(acc[s].rate, cfg->rounds);
            p50[s] = samples_pct(&acc[s].handoff, 0.5) / 1e3;
            p99[s] = samples_pct(&acc[s].handoff, 0.99) / 1e3;
        }
        lease_emit(b, sd, waiters, "acquires_per_s", rate, NULL, NULL, NULL);
        lease_emit(b, sd, waiters, "handoff_us", p50, p50, p99, NULL);
        /* With every count: a handoff figure means little without it (a
           polling waiter lets the holder take the name again and again). */
        double share[LEASE_MAX_SIDES] = {0};
        for (int s = 0; s < sd->n; s++)
            share[s] = 100 * median_d(acc[s].share, cfg->rounds);
        lease_emit(b, sd, waiters, "holder_chg_pct", share, NULL, NULL, NULL);
        if (most)
            emit_fairness(b, sd, waiters, acc, cfg->rounds);
    }
    for (int s = 0; s < sd->n; s++)
        samples_free(&acc[s].handoff);
    return ok ? 0 : -1;
}

int lease_handoff(const struct bench_cfg *cfg, const struct bench_backend *b,
                  const struct lease_sides *sd, int odbc)
{
    static const int waiters[] = {1, 10, 50};
    int n = odbc ? 1 : cfg->quick ? 2 : 3;
    for (int i = 0; i < n; i++)
        if (one_count(cfg, b, sd, waiters[i], !odbc && i == n - 1) != 0)
            return -1;
    return 0;
}
