/* SPDX-License-Identifier: MIT */
/*
 * Scenario 6, the wake-ups of one release: the parent holds 50 names (one
 * client: a lease is a row, an advisory lock one session's), 50 processes
 * each wait on one of them, and once all of them wait the parent releases
 * ONE name. Figures: the time from that release being called to its
 * waiter's acquire returning, and how many of the OTHER waiters it woke in
 * the 300 ms after, three ways: whose session started a statement
 * (pg_stat_activity.query_start, per backend, found by the application_name
 * sqllock gives its sessions), whose client process and whose backend
 * process slept and woke (voluntary context switches in /proc). Beside it
 * the same with 1 name and 1 waiter.
 * "All wait" is read on the server too: each waiter's session queued on a
 * lock, or idle after a statement sent since the start, twice alike.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#include "scenarios.h"

#define WINDOW_NS 300000000LL
#define SETTLE_MAX_NS 5000000000LL
#define MAX_NAMES 50

struct warg {
    const char *label, *url, *prefix;
    int64_t ttl_ms;
};

static void nap_until(int64_t t)
{
    for (int64_t now = bench_now_ns(); now < t; now = bench_now_ns()) {
        struct timespec ts = {0, (long)(t - now < 20000000 ? t - now : 20000000)};
        (void)nanosleep(&ts, NULL);
    }
}

static void lock_name(char *out, size_t n, const char *prefix, int i)
{
    snprintf(out, n, "%s:%d", prefix, i);
}

/* Waits for its own name and reports when it had it. */
static int waiter(struct crew_ctx *ctx, void *argp)
{
    const struct warg *a = argp;
    sqllock_client *c = NULL;
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = a->ttl_ms;
    o.wait_ms = HANDOFF_WAIT_MS;
    char name[128], warm[140];
    lock_name(name, sizeof(name), a->prefix, ctx->index);
    snprintf(warm, sizeof(warm), "%s:warm", name);
    sqllock_lock *l = NULL;
    sqllock_status st = sqllock_connect(&c, a->url);
    if (st == SQLLOCK_OK && (st = sqllock_acquire(&l, c, warm, &o)) == SQLLOCK_OK)
        st = sqllock_release(l);
    int rc = st == SQLLOCK_OK ? crew_ready(ctx) : -1;
    if (rc == 0 && (st = sqllock_acquire(&l, c, name, &o)) == SQLLOCK_OK) {
        int64_t t = bench_now_ns();
        st = sqllock_release(l);
        rc = st == SQLLOCK_OK ? write_all(ctx->out_fd, &t, sizeof(t)) : -1;
    }
    if (st != SQLLOCK_OK) {
        fprintf(stderr, "bench: %s: waiter: %s: %s\n", a->label, sqllock_status_str(st),
                sqllock_errmsg(c));
        rc = -1;
    }
    sqllock_client_free(c);
    return rc;
}

/* Until every waiter's session waits, twice alike; bounded (a waiter that
   never settles, as a polling one, is measured anyway). */
static int settle(struct pgstat *st, const struct crew *crew, const char *since,
                  struct pgstat_backend *be)
{
    struct pgstat_backend prev[MAX_NAMES];
    int64_t end = bench_now_ns() + SETTLE_MAX_NS;
    int stable = 0;
    while (!stable && bench_now_ns() < end) {
        memcpy(prev, be, sizeof(prev));
        if (pgstat_backends(st, crew->pid, crew->n, since, be) != 0)
            return -1;
        stable = 1;
        for (int i = 0; i < crew->n; i++)
            stable =
                stable && be[i].waiting && strcmp(be[i].query_start, prev[i].query_start) == 0;
        if (!stable)
            nap_until(bench_now_ns() + 20000000);
    }
    if (!stable)
        fprintf(stderr, "bench: wake: not every waiter settled in 5 s; measured anyway\n");
    return 0;
}

/* Voluntary context switches of a process so far (it slept and woke), or
   -1 where /proc cannot tell (another OS, a process of another user). */
static long long wakeups(pid_t pid)
{
    char path[64], line[128];
    long long v = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* The other waiters (1..k-1) that woke between two readings; NAN when a
   reading failed. */
static double woke(const long long *a, const long long *b, int k)
{
    double n = 0;
    for (int i = 1; i < k; i++) {
        if (a[i] < 0 || b[i] < 0)
            return NAN;
        n += b[i] != a[i];
    }
    return n;
}

/* How many of the other waiters one release woke, three ways. */
enum { WOKE_STMTS, WOKE_CLIENTS, WOKE_BACKENDS, WOKE_KINDS };

/* One trial with k names on side s: the release-to-waiter time in us and
   the other waiters woken. */
static int trial(const struct bench_backend *b, const struct lease_sides *sd, int s, int k,
                 struct pgstat *st, double *to_waiter_us, double *woken)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "bench:wake:%ld:%d:%d", (long)getpid(), s, k);
    struct warg a = {b->label, sd->url[s], prefix, sd->ttl_ms[s]};
    struct crew crew;
    if (crew_start(&crew, k, waiter, &a) != 0)
        return -1;
    sqllock_client *h = NULL;
    sqllock_lock *held[MAX_NAMES] = {0};
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = sd->ttl_ms[s];
    char since[64], name[128];
    int ok = sqllock_connect(&h, sd->url[s]) == SQLLOCK_OK;
    for (int i = 0; i < k && ok; i++) {
        lock_name(name, sizeof(name), prefix, i);
        ok = sqllock_acquire(&held[i], h, name, &o) == SQLLOCK_OK;
    }
    if (!ok)
        fprintf(stderr, "bench: wake holder: %s\n", sqllock_errmsg(h));
    ok = ok && pgstat_now(st, since, sizeof(since)) == 0;
    if (crew_go(&crew) != 0)
        ok = 0;
    struct pgstat_backend before[MAX_NAMES] = {{0}}, after[MAX_NAMES];
    ok = ok && settle(st, &crew, since, before) == 0;
    int64_t t0 = 0;
    long long cl[2][MAX_NAMES], be[2][MAX_NAMES];
    for (int i = 0; i < k && ok; i++) {
        cl[0][i] = wakeups(crew.pid[i]);
        be[0][i] = wakeups(before[i].backend);
    }
    if (ok) {
        t0 = bench_now_ns(); /* from the call: the whole cost of passing it on */
        ok = sqllock_release(held[0]) == SQLLOCK_OK;
        held[0] = NULL;
        nap_until(t0 + WINDOW_NS);
        for (int i = 0; i < k; i++) {
            cl[1][i] = wakeups(crew.pid[i]);
            be[1][i] = wakeups(before[i].backend);
        }
        ok = ok && pgstat_backends(st, crew.pid, k, since, after) == 0;
    }
    woken[WOKE_STMTS] = 0;
    for (int i = 1; i < k && ok; i++)
        woken[WOKE_STMTS] += strcmp(before[i].query_start, after[i].query_start) != 0;
    woken[WOKE_CLIENTS] = ok ? woke(cl[0], cl[1], k) : NAN;
    woken[WOKE_BACKENDS] = ok ? woke(be[0], be[1], k) : NAN;
    for (int i = 0; i < k; i++)
        if (held[i] && sqllock_release(held[i]) != SQLLOCK_OK)
            ok = 0;
    sqllock_client_free(h);
    /* Every waiter's report is read: one whose pipe were closed first would
       die of SIGPIPE. Waiter 0's is the figure. */
    int64_t t = 0;
    for (int i = 0; i < crew.n; i++) {
        char *buf = NULL;
        size_t len = 0;
        if (crew_collect(&crew, i, &buf, &len) != 0 || len != sizeof(t))
            ok = 0;
        else if (i == 0)
            memcpy(&t, buf, sizeof(t));
        free(buf);
    }
    if (crew_finish(&crew) != 0)
        ok = 0;
    *to_waiter_us = (double)(t - t0) / 1e3;
    if (!ok)
        fprintf(stderr, "bench: wake %s, %d names: a trial failed\n", b->label, k);
    return ok ? 0 : -1;
}

int lease_wake(const struct bench_cfg *cfg, const struct bench_backend *b,
               const struct lease_sides *sd)
{
    int names[] = {cfg->quick ? 10 : MAX_NAMES, 1};
    struct pgstat st;
    if (pgstat_open(&st, b->baseline) != 0)
        return -1;
    int ok = 1;
    for (int c = 0; c < 2 && ok; c++) {
        static const char *const metric[WOKE_KINDS] = {"woken_stmts", "woken_clients",
                                                       "woken_backends"};
        double t[LEASE_MAX_SIDES][BENCH_MAX_ROUNDS];
        double w[WOKE_KINDS][LEASE_MAX_SIDES][BENCH_MAX_ROUNDS];
        for (int k = 0; k < cfg->rounds && ok; k++)
            for (int s = 0; s < sd->n && ok; s++) {
                double wk[WOKE_KINDS] = {NAN, NAN, NAN};
                ok = trial(b, sd, s, names[c], &st, &t[s][k], wk) == 0;
                for (int m = 0; m < WOKE_KINDS; m++)
                    w[m][s][k] = wk[m];
            }
        double tm[LEASE_MAX_SIDES] = {0}, wm[LEASE_MAX_SIDES] = {0};
        for (int s = 0; s < sd->n && ok; s++)
            tm[s] = median_d(t[s], cfg->rounds);
        if (ok)
            lease_emit(b, sd, names[c], "to_waiter_us", tm, NULL, NULL, NULL);
        for (int m = 0; m < WOKE_KINDS && ok && names[c] > 1; m++) {
            for (int s = 0; s < sd->n; s++)
                wm[s] = median_d(w[m][s], cfg->rounds);
            lease_emit(b, sd, names[c], metric[m], wm, NULL, NULL, NULL);
        }
    }
    pgstat_close(&st);
    return ok ? 0 : -1;
}
