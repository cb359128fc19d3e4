/* SPDX-License-Identifier: MIT */
/*
 * Scenario 8, several locks at once: one client takes K free names (K = 1,
 * 4, 16) and releases each, either with one sqllock_acquire_all or with K
 * sqllock_acquire calls, in turns within each round, as a try (wait_ms 0:
 * one statement on pg-advisory over libpq) and as a wait (wait_ms > 0: lock
 * by lock). Reported: sets per second of acquire_all, the K single acquires
 * as the baseline, and their ratio (> 1: acquire_all is faster), median of
 * the per-round ratios, with p50/p99 of one set (acquire and releases).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqllock.h>

#include "scenarios.h"

#define MAX_K 16

struct set_run {
    sqllock_client *c;
    const char *const *names;
    int k, all;
    const sqllock_acquire_opts *opts;
};

/* One set taken and released: 0, or -1 reported. */
static int one_set(const struct set_run *r)
{
    sqllock_lock *l[MAX_K];
    sqllock_status st = SQLLOCK_OK;
    int got = 0;
    if (r->all) {
        st = sqllock_acquire_all(l, r->c, r->names, (size_t)r->k, r->opts);
        got = st == SQLLOCK_OK ? r->k : 0;
    } else {
        for (; got < r->k &&
               (st = sqllock_acquire(&l[got], r->c, r->names[got], r->opts)) == SQLLOCK_OK;
             got++)
            ;
    }
    for (int i = 0; i < got; i++)
        if (sqllock_release(l[i]) != SQLLOCK_OK && st == SQLLOCK_OK)
            st = SQLLOCK_ESERVER;
    if (st == SQLLOCK_OK)
        return 0;
    fprintf(stderr, "bench: acquire_all: %s: %s\n", sqllock_status_str(st),
            sqllock_errmsg(r->c));
    return -1;
}

/* Sets per second for `seconds`, each set's time added to lat; -1 failed. */
static double timed(const struct set_run *r, double seconds, struct samples *lat)
{
    int64_t start = bench_now_ns(), end = start + (int64_t)(seconds * 1e9), t = start;
    int64_t count = 0;
    while (t < end) {
        int64_t t0 = t;
        if (one_set(r) != 0)
            return -1;
        t = bench_now_ns();
        if (samples_add(lat, t - t0) != 0)
            return -1;
        count++;
    }
    return (double)count / ((double)(t - start) / 1e9);
}

static int one_k(const struct bench_cfg *cfg, const struct bench_backend *b, sqllock_client *c,
                 const char *const *names, int k, int64_t wait_ms)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = wait_ms;
    struct set_run all = {c, names, k, 1, &o}, each = {c, names, k, 0, &o};
    double v_all[BENCH_MAX_ROUNDS], v_each[BENCH_MAX_ROUNDS], ratio[BENCH_MAX_ROUNDS];
    struct samples l_all = {0}, l_each = {0};
    int ok = 1;
    for (int i = 0; i < 50 && ok; i++) /* warm up both */
        ok = one_set(&all) == 0 && one_set(&each) == 0;
    for (int r = 0; r < cfg->rounds && ok; r++) {
        v_all[r] = timed(&all, cfg->seconds / 2, &l_all);
        v_each[r] = timed(&each, cfg->seconds / 2, &l_each);
        ok = v_all[r] > 0 && v_each[r] > 0;
        ratio[r] = v_all[r] / v_each[r];
    }
    if (ok) {
        samples_sort(&l_all);
        char variant[48];
        snprintf(variant, sizeof(variant), "names=%d %s", k, wait_ms ? "wait" : "try");
        struct figure f = {"acquire_all",
                           b->label,
                           1,
                           variant,
                           "sets_per_s",
                           median_d(v_all, cfg->rounds),
                           samples_pct(&l_all, 0.5) / 1e3,
                           samples_pct(&l_all, 0.99) / 1e3,
                           "sqllock_acquire x names",
                           median_d(v_each, cfg->rounds),
                           median_d(ratio, cfg->rounds)};
        figure_emit(&f);
    }
    samples_free(&l_all);
    samples_free(&l_each);
    return ok ? 0 : -1;
}

int sc_acquire_all(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    static const int ks[] = {1, 4, 16};
    char buf[MAX_K][64];
    const char *names[MAX_K];
    for (int i = 0; i < MAX_K; i++) {
        snprintf(buf[i], sizeof(buf[i]), "bench:acquire_all:%ld:%d", (long)getpid(), i);
        names[i] = buf[i];
    }
    sqllock_client *c = NULL;
    if (sqllock_connect(&c, b->url) != SQLLOCK_OK) {
        fprintf(stderr, "bench: connect %s: %s\n", b->label, sqllock_errmsg(c));
        sqllock_client_free(c);
        return -1;
    }
    int rc = 0;
    for (int w = 0; w < 2 && rc == 0; w++)
        for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]) && rc == 0; i++)
            rc = one_k(cfg, b, c, names, ks[i], w ? 1000 : 0);
    sqllock_client_free(c);
    return rc;
}
