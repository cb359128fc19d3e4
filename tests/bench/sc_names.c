/* SPDX-License-Identifier: MIT */
/*
 * Scenario 3, many names: the cost of one acquire+release of a fresh name
 * while the same client already holds K = 0, 100, 1,000 or 5,000 other
 * locks. One sqllock client, and next to it a hand-written libpq connection
 * doing the same with the same statements; each holds K locks, times pairs
 * for a while, then takes or lets go of locks to reach the next K (upwards
 * in one round, downwards in the next). Each median is set against the
 * K = 0 median of its own side in the same round (flat: nothing per call
 * grows with the number held) and sqllock against libpq at the same K
 * (what of any growth is the library's and what the server's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqllock.h>

#include "scenarios.h"

#define NK 4
static const int held_counts[NK] = {0, 100, 1000, 5000};
#define MAX_HELD 5000

struct names_side {
    int libpq;
    sqllock_client *c; /* sqllock side */
    sqllock_lock **held;
    PGconn *conn; /* libpq side */
    int nheld;
    char probe[96], key[24];
    struct samples lat[NK];
    double med[NK][BENCH_MAX_ROUNDS];
};

static void held_key(const struct names_side *s, int i, char *key, size_t n, char *name)
{
    snprintf(name, 96, "bench:names:%ld:%d:%d", (long)getpid(), s->libpq, i);
    snprintf(key, n, "%lld", (long long)sqllock_advisory_key(name));
}

/* Takes or lets go of locks until s holds k. */
static int hold(struct names_side *s, int k)
{
    while (s->nheld != k) {
        int up = s->nheld < k, i = up ? s->nheld : s->nheld - 1;
        char name[96], key[24];
        held_key(s, i, key, sizeof(key), name);
        int rc;
        if (s->libpq) {
            rc = bench_pq_exec(s->conn, up ? "bench_lock" : "bench_unlock", key, 0);
        } else {
            sqllock_status st = up ? sqllock_acquire(&s->held[i], s->c, name, NULL)
                                   : sqllock_release(s->held[i]);
            rc = st == SQLLOCK_OK ? 0 : -1;
            if (rc)
                fprintf(stderr, "bench: names: %s %d: %s: %s\n", up ? "holding" : "releasing", k,
                        sqllock_status_str(st), sqllock_errmsg(s->c));
        }
        if (rc)
            return -1;
        s->nheld += up ? 1 : -1;
    }
    return 0;
}

static int pair(struct names_side *s)
{
    if (s->libpq)
        return bench_pq_pair(s->conn, s->key);
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, s->c, s->probe, NULL);
    if (st == SQLLOCK_OK)
        st = sqllock_release(l);
    if (st == SQLLOCK_OK)
        return 0;
    fprintf(stderr, "bench: names: %s: %s\n", sqllock_status_str(st), sqllock_errmsg(s->c));
    return -1;
}

/* Times pairs for `seconds`; returns this run's median in ns, or -1. */
static double timed(struct names_side *s, int k, double seconds)
{
    struct samples run = {0};
    int64_t end = bench_now_ns() + (int64_t)(seconds * 1e9);
    int ok = 1;
    while (ok && bench_now_ns() < end) {
        int64_t t0 = bench_now_ns();
        ok = pair(s) == 0 && samples_add(&run, bench_now_ns() - t0) == 0;
    }
    ok = ok && samples_append(&s->lat[k], run.v, run.n) == 0;
    samples_sort(&run);
    double med = ok ? samples_pct(&run, 0.5) : -1;
    samples_free(&run);
    return med;
}

static int setup(struct names_side *s, const struct bench_backend *b, int libpq)
{
    s->libpq = libpq;
    snprintf(s->probe, sizeof(s->probe), "bench:names:%ld:%d:probe", (long)getpid(), libpq);
    snprintf(s->key, sizeof(s->key), "%lld", (long long)sqllock_advisory_key(s->probe));
    if (libpq) {
        if (!(s->conn = bench_pq_open(b->baseline)))
            return -1;
    } else {
        if (!(s->held = calloc(MAX_HELD, sizeof(*s->held))))
            return -1;
        if (sqllock_connect(&s->c, b->url) != SQLLOCK_OK) {
            fprintf(stderr, "bench: connect %s: %s\n", b->label, sqllock_errmsg(s->c));
            return -1;
        }
    }
    for (int i = 0; i < 200; i++) /* warm up */
        if (pair(s) != 0)
            return -1;
    return 0;
}

static void emit(const struct bench_backend *b, struct names_side *sides, int side, int k,
                 int rounds)
{
    struct names_side *s = &sides[side];
    double flat[BENCH_MAX_ROUNDS], vs_pq[BENCH_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        flat[r] = s->med[k][r] / s->med[0][r];
        if (side == 0 && b->baseline)
            vs_pq[r] = s->med[k][r] / sides[1].med[k][r];
    }
    char variant[32];
    snprintf(variant, sizeof(variant), "%s K=%d", side ? "libpq" : "sqllock", held_counts[k]);
    samples_sort(&s->lat[k]);
    struct figure f = {"many_names",
                       b->label,
                       1,
                       variant,
                       "pair_us",
                       median_d(s->med[k], rounds) / 1e3,
                       samples_pct(&s->lat[k], 0.5) / 1e3,
                       samples_pct(&s->lat[k], 0.99) / 1e3,
                       side ? "libpq K=0" : "sqllock K=0",
                       median_d(s->med[0], rounds) / 1e3,
                       median_d(flat, rounds)};
    figure_emit(&f);
    if (side == 0 && b->baseline) {
        char base[32];
        snprintf(base, sizeof(base), "libpq K=%d", held_counts[k]);
        f.baseline = base;
        f.baseline_value = median_d(sides[1].med[k], rounds) / 1e3;
        f.ratio = median_d(vs_pq, rounds);
        figure_emit(&f);
    }
}

int sc_names(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    struct names_side sides[2] = {{0}}; /* sqllock, libpq */
    int nsides = b->baseline ? 2 : 1, ok = 1;
    for (int i = 0; i < nsides && ok; i++)
        ok = setup(&sides[i], b, i) == 0;
    int rounds = cfg->quick ? 1 : cfg->rounds + 2; /* the ratios are small: a few more */
    if (rounds > BENCH_MAX_ROUNDS)
        rounds = BENCH_MAX_ROUNDS;
    for (int r = 0; r < rounds && ok; r++)
        for (int j = 0; j < NK && ok; j++) {
            int k = r % 2 ? NK - 1 - j : j; /* up, then down */
            for (int i = 0; i < nsides && ok; i++) {
                struct names_side *s = &sides[(r + i) % nsides];
                ok = hold(s, held_counts[k]) == 0 &&
                     (s->med[k][r] = timed(s, k, cfg->seconds / 4)) > 0;
            }
        }
    for (int side = 0; side < nsides && ok; side++)
        for (int k = 0; k < NK; k++)
            emit(b, sides, side, k, rounds);
    for (int i = 0; i < nsides; i++) {
        sqllock_client_free(sides[i].c);
        free(sides[i].held);
        PQfinish(sides[i].conn);
        for (int k = 0; k < NK; k++)
            samples_free(&sides[i].lat[k]);
    }
    return ok ? 0 : -1;
}
