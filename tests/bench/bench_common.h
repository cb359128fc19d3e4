/* SPDX-License-Identifier: MIT */
/*
 * Internal to the benchmarks: what every scenario of tests/bench/bench.c
 * shares. A clock, growable sample sets with medians and nearest-rank
 * percentiles, a crew of forked worker processes started together through a
 * pipe barrier and read back through pipes, a runner for other programs
 * (pgbench, psql, the sqllock command), and the one place where a figure
 * becomes a row of the human table and a JSON line.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_CLIENTS 64
#define BENCH_MAX_ROUNDS 15

/* One row of the backend table that ci/bench passes (--backend ...). */
struct bench_backend {
    const char *label;    /* e.g. "pg-advisory/unix" */
    const char *url;      /* what sqllock_connect gets */
    const char *baseline; /* libpq conninfo for the hand-written loop, or NULL */
    int pgbench;          /* run pgbench as a second baseline */
    int cli;              /* run the CLI scenario on this URL */
};

struct bench_cfg {
    int quick;
    int rounds;               /* interleaved pairs per figure */
    double seconds;           /* length of one timed run */
    const char *pgbench;      /* path of pgbench */
    const char *cli;          /* path of the sqllock command, or NULL */
    const char *psql;         /* path of psql, or NULL */
    const char *psql_wrapper; /* psql as users type it (Debian's wrapper), or NULL */
    const char *scripts;      /* directory of the pgbench scripts */
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* A growable set of int64 samples (nanoseconds, or anything else). */
struct samples {
    int64_t *v;
    size_t n, cap;
};
int samples_add(struct samples *s, int64_t x); /* 0, or -1 out of memory */
int samples_append(struct samples *s, const int64_t *x, size_t n);
void samples_sort(struct samples *s);
/* Nearest-rank percentile (0 < p <= 1) of sorted samples; NAN when empty. */
double samples_pct(const struct samples *s, double p);
void samples_free(struct samples *s);

/* Median of n doubles; sorts v in place. NAN when n is 0. */
double median_d(double *v, int n);

/*
 * A crew: n forked workers, each with its own result pipe. A worker sets
 * itself up (connects), calls crew_ready() and from then on runs; the
 * parent's crew_go() releases them all at once. Workers report by writing
 * bytes to out_fd and returning 0 (or -1 on failure); they exit then.
 */
struct crew_ctx {
    int index;
    int out_fd;
    int ready_fd;
    int go_fd;
};
typedef int (*crew_fn)(struct crew_ctx *ctx, void *arg);
/* Blocks until the parent says go; 0, or -1 when told to give up. */
int crew_ready(struct crew_ctx *ctx);
/* Writes all of buf to fd; 0 or -1. */
int write_all(int fd, const void *buf, size_t n);

struct crew {
    int n;
    pid_t pid[BENCH_MAX_CLIENTS];
    int out[BENCH_MAX_CLIENTS];
    int ready_r, go_w;
};
int crew_start(struct crew *c, int n, crew_fn fn, void *arg);
/* Waits until every worker is ready and starts them; -1 if one failed. */
int crew_go(struct crew *c);
/* Reads worker i's whole report into *buf (malloc'd) and *len. */
int crew_collect(struct crew *c, int i, char **buf, size_t *len);
/* Reaps every worker; -1 if any failed. Closes what is left open. */
int crew_finish(struct crew *c);

/* Runs argv, captures its stdout (up to cap bytes) into out; returns the
   exit status, or -1 if it could not run or was killed. */
int run_program(char *const argv[], char *out, size_t cap, int quiet_stderr);

/* A figure, as one row of the table and one JSON line. NAN means none. */
struct figure {
    const char *scenario;
    const char *backend;
    int clients;
    const char *variant;  /* e.g. "held=1000"; NULL if none */
    const char *metric;   /* e.g. "ops_per_s", "handoff_us" */
    double value;         /* median over runs */
    double p50, p99;      /* latency percentiles of the same runs, in us */
    const char *baseline; /* what it is compared with */
    double baseline_value;
    double ratio; /* value / baseline_value, median of per-pair ratios */
};
int figures_open(const char *json_path); /* 0 or -1 */
void figures_close(void);
void figure_section(const char *title);
void figure_emit(const struct figure *f);
int figures_emitted(void);

#endif /* BENCH_COMMON_H */
