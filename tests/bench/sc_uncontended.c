/* SPDX-License-Identifier: MIT */
/*
 * Scenario 1, uncontended: acquire+release pairs per second with 1, 4 and
 * 16 clients, each a process with its own connection and its own name, so
 * nobody ever waits. Three sides run in turns (sqllock, the hand-written
 * libpq loop of the very statements sqllock sends, prepared, and pgbench
 * with the same statements and client count), `rounds` times; ratios are
 * taken per round and their median reported, with the p50/p99 latency of
 * one acquire+release pair.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#include "scenarios.h"

#define WARMUP_OPS 200

enum side { SIDE_SQLLOCK, SIDE_LIBPQ };

struct uarg {
    const struct bench_backend *b;
    const char *url; /* what sqllock connects to: b->url, or it with settings */
    int64_t ttl_ms;  /* > 0: leases */
    enum side side;
    double seconds;
};

struct ureport {
    int64_t count, elapsed_ns, cpu_ns, nsamples;
};

/* CPU time this process has used, user and system, in ns. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int sqllock_pair(sqllock_client *c, const char *name, const sqllock_acquire_opts *opts)
{
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, c, name, opts);
    if (st == SQLLOCK_OK)
        st = sqllock_release(l);
    if (st == SQLLOCK_OK)
        return 0;
    fprintf(stderr, "bench: sqllock: %s: %s\n", sqllock_status_str(st), sqllock_errmsg(c));
    return -1;
}

static int worker(struct crew_ctx *ctx, void *argp)
{
    const struct uarg *a = argp;
    char name[96], key[24];
    snprintf(name, sizeof(name), "bench:uncontended:%ld:%d", (long)getpid(), ctx->index);
    snprintf(key, sizeof(key), "%lld", (long long)sqllock_advisory_key(name));
    sqllock_client *c = NULL;
    PGconn *conn = NULL;
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.ttl_ms = a->ttl_ms;
    if (a->side == SIDE_SQLLOCK) {
        if (sqllock_connect(&c, a->url) != SQLLOCK_OK) {
            fprintf(stderr, "bench: connect %s: %s\n", a->b->label, sqllock_errmsg(c));
            sqllock_client_free(c);
            return -1;
        }
    } else if (!(conn = bench_pq_open(a->b->baseline))) {
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < WARMUP_OPS && rc == 0; i++)
        rc = c ? sqllock_pair(c, name, &opts) : bench_pq_pair(conn, key);
    struct samples lat = {0};
    struct ureport rep = {0};
    if (rc == 0 && crew_ready(ctx) == 0) {
        int64_t cpu0 = cpu_ns();
        int64_t start = bench_now_ns(), end = start + (int64_t)(a->seconds * 1e9), t = start;
        while (rc == 0 && t < end) {
            int64_t t0 = t;
            rc = c ? sqllock_pair(c, name, &opts) : bench_pq_pair(conn, key);
            t = bench_now_ns();
            if (rc == 0)
                rc = samples_add(&lat, t - t0);
            rep.count++;
        }
        rep.elapsed_ns = t - start;
        rep.cpu_ns = cpu_ns() - cpu0;
        rep.nsamples = (int64_t)lat.n;
        if (rc == 0 && (write_all(ctx->out_fd, &rep, sizeof(rep)) != 0 ||
                        write_all(ctx->out_fd, lat.v, lat.n * sizeof(*lat.v)) != 0))
            rc = -1;
    } else {
        rc = -1;
    }
    samples_free(&lat);
    sqllock_client_free(c);
    PQfinish(conn);
    return rc;
}

/* One timed run of n workers; ops/s summed over workers, latencies added,
   the client processes' CPU time per pair in *cpu_us. */
static double run_side(const struct bench_cfg *cfg, const struct bench_backend *b,
                       const char *url, int64_t ttl_ms, enum side side, int n,
                       struct samples *lat, double *cpu_us)
{
    struct uarg a = {b, url, ttl_ms, side, cfg->seconds};
    struct crew crew;
    if (crew_start(&crew, n, worker, &a) != 0)
        return -1;
    int ok = crew_go(&crew) == 0;
    double ops = 0, cpu = 0, count = 0;
    for (int i = 0; i < n && ok; i++) {
        char *buf;
        size_t len;
        struct ureport rep;
        if (crew_collect(&crew, i, &buf, &len) != 0) {
            ok = 0;
            break;
        }
        memcpy(&rep, buf, len >= sizeof(rep) ? sizeof(rep) : 0);
        ok =
            len >= sizeof(rep) && len == sizeof(rep) + (size_t)rep.nsamples * sizeof(int64_t) &&
            rep.elapsed_ns > 0 &&
            samples_append(lat, (const int64_t *)(buf + sizeof(rep)), (size_t)rep.nsamples) == 0;
        if (ok) {
            ops += (double)rep.count / ((double)rep.elapsed_ns / 1e9);
            cpu += (double)rep.cpu_ns;
            count += (double)rep.count;
        }
        free(buf);
    }
    if (crew_finish(&crew) != 0 || !ok) {
        fprintf(stderr, "bench: uncontended %s, %d clients: a worker failed\n", b->label, n);
        return -1;
    }
    *cpu_us = count > 0 ? cpu / count / 1e3 : NAN;
    return ops;
}

/* pgbench with the same statements and client count; its tps, or -1. */
static double run_pgbench(const struct bench_cfg *cfg, const struct bench_backend *b, int n)
{
    char script[1024], clients[16], secs[16], out[8192];
    snprintf(script, sizeof(script), "%s/pgbench_advisory.sql", cfg->scripts);
    snprintf(clients, sizeof(clients), "%d", n);
    snprintf(secs, sizeof(secs), "%d", cfg->seconds < 1.5 ? 1 : (int)lround(cfg->seconds));
    char *argv[] = {(char *)cfg->pgbench,
                    "-n",
                    "-f",
                    script,
                    "-c",
                    clients,
                    "-j",
                    clients,
                    "-T",
                    secs,
                    "-M",
                    "prepared",
                    (char *)b->baseline,
                    NULL};
    int rc = run_program(argv, out, sizeof(out), 1);
    const char *tps = strstr(out, "\ntps = ");
    double v = tps ? strtod(tps + 7, NULL) : 0;
    if (rc != 0 || !(v > 0)) {
        fprintf(stderr, "bench: pgbench (%s) exited %d; output:\n%s\n", cfg->pgbench, rc, out);
        return -1;
    }
    return v;
}

static int one_count(const struct bench_cfg *cfg, const struct bench_backend *b, int n)
{
    double sq[BENCH_MAX_ROUNDS], pq[BENCH_MAX_ROUNDS], pb[BENCH_MAX_ROUNDS];
    double r_pq[BENCH_MAX_ROUNDS], r_pb[BENCH_MAX_ROUNDS];
    double cpu_sq[BENCH_MAX_ROUNDS], cpu_pq[BENCH_MAX_ROUNDS], r_cpu[BENCH_MAX_ROUNDS];
    struct samples lsq = {0}, lpq = {0};
    int ok = 1;
    for (int r = 0; r < cfg->rounds && ok; r++) {
        cpu_pq[r] = NAN;
        sq[r] = run_side(cfg, b, b->url, 0, SIDE_SQLLOCK, n, &lsq, &cpu_sq[r]);
        pq[r] = b->baseline ? run_side(cfg, b, b->url, 0, SIDE_LIBPQ, n, &lpq, &cpu_pq[r]) : NAN;
        pb[r] = b->pgbench ? run_pgbench(cfg, b, n) : NAN;
        ok = sq[r] > 0 && !(pq[r] <= 0) && !(pb[r] <= 0);
        r_pq[r] = sq[r] / pq[r];
        r_pb[r] = sq[r] / pb[r];
        r_cpu[r] = cpu_sq[r] / cpu_pq[r];
    }
    if (ok) {
        int R = cfg->rounds;
        samples_sort(&lsq);
        samples_sort(&lpq);
        struct figure f = {"uncontended",
                           b->label,
                           n,
                           "sqllock",
                           "ops_per_s",
                           median_d(sq, R),
                           samples_pct(&lsq, 0.5) / 1e3,
                           samples_pct(&lsq, 0.99) / 1e3,
                           NULL,
                           NAN,
                           NAN};
        if (b->baseline) {
            f.baseline = "libpq prepared loop";
            f.baseline_value = median_d(pq, R);
            f.ratio = median_d(r_pq, R);
        }
        figure_emit(&f);
        if (b->pgbench) {
            f.baseline = "pgbench -M prepared";
            f.baseline_value = median_d(pb, R);
            f.ratio = median_d(r_pb, R);
            figure_emit(&f);
        }
        if (b->baseline) {
            struct figure g = {"uncontended",
                               b->label,
                               n,
                               "libpq-loop",
                               "ops_per_s",
                               median_d(pq, R),
                               samples_pct(&lpq, 0.5) / 1e3,
                               samples_pct(&lpq, 0.99) / 1e3,
                               NULL,
                               NAN,
                               NAN};
            figure_emit(&g);
        }
        /* Client CPU per pair: the library's own cost, which wall-clock
           figures on a small shared machine hide in scheduling noise. */
        struct figure h = {
            "uncontended", b->label, n,   "sqllock", "client_cpu_us", median_d(cpu_sq, R), NAN,
            NAN,           NULL,     NAN, NAN};
        if (b->baseline) {
            h.baseline = "libpq prepared loop";
            h.baseline_value = median_d(cpu_pq, R);
            h.ratio = median_d(r_cpu, R);
        }
        figure_emit(&h);
    }
    samples_free(&lsq);
    samples_free(&lpq);
    return ok ? 0 : -1;
}

double uncontended_pairs(const struct bench_cfg *cfg, const struct bench_backend *b,
                         const char *url, int64_t ttl_ms, int n, struct samples *lat)
{
    double cpu_us;
    return run_side(cfg, b, url, ttl_ms, SIDE_SQLLOCK, n, lat, &cpu_us);
}

int sc_uncontended(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    static const int counts[] = {1, 4, 16};
    int n = cfg->quick ? 2 : 3;
    for (int i = 0; i < n; i++)
        if (one_count(cfg, b, counts[i]) != 0)
            return -1;
    return 0;
}
