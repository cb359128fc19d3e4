/* SPDX-License-Identifier: MIT */
/*
 * bench_lease: uncontended acquire+release pairs per second through sqllock
 * on one PostgreSQL connection, advisory lock next to lease, side by side;
 * and the NOTIFY wake-up latency of a lease waiter (holder's release ->
 * waiter's acquire returns). Advisory and lease run in turns for --rounds
 * pairs of --seconds each, so that a drift in the machine's speed hits both
 * alike; medians are reported. It reports and never judges: the exit status
 * only says whether the benchmark could run.
 *
 * Usage: bench_lease CONNINFO [--rounds R] [--seconds S]
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#define MAX_ROUNDS 101
#define LATENCY_SAMPLES 50

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* acquire+release pairs per second for `seconds`; -1 on error. */
static double pairs_per_s(sqllock_client *c, const char *name, int64_t ttl_ms, double seconds)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = ttl_ms;
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 64; i++, n++) {
            sqllock_lock *l;
            if (sqllock_acquire(&l, c, name, &o) != SQLLOCK_OK ||
                sqllock_release(l) != SQLLOCK_OK) {
                fprintf(stderr, "bench_lease: %s\n", sqllock_errmsg(c));
                return -1;
            }
        }
    } while ((t = now_s() - t0) < seconds);
    return n / t;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct waiter {
    sqllock_client *c;
    const char *name;
    volatile int started;
    double done;
    sqllock_status st;
    sqllock_lock *l;
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = 60000;
    o.wait_ms = 30000;
    w->started = 1;
    w->st = sqllock_acquire(&w->l, w->c, w->name, &o);
    w->done = now_s();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_lease CONNINFO [--rounds R] [--seconds S]\n");
        return 2;
    }
    int rounds = 5;
    double seconds = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0) {
        fprintf(stderr, "bench_lease: --rounds 1..%d, --seconds > 0\n", MAX_ROUNDS);
        return 2;
    }
    sqllock_client *a = NULL, *b = NULL;
    if (sqllock_connect(&a, argv[1]) != SQLLOCK_OK ||
        sqllock_connect(&b, argv[1]) != SQLLOCK_OK) {
        fprintf(stderr, "bench_lease: %s\n", sqllock_errmsg(a && *sqllock_errmsg(a) ? a : b));
        return 1;
    }
    char name[64];
    snprintf(name, sizeof(name), "bench-lease-%ld", (long)getpid());
    double adv[MAX_ROUNDS], lea[MAX_ROUNDS];
    if (pairs_per_s(a, name, 60000, 0.2) < 0) /* warm-up; creates the tables */
        return 1;
    for (int r = 0; r < rounds; r++) {
        if ((adv[r] = pairs_per_s(a, name, 0, seconds)) < 0 ||
            (lea[r] = pairs_per_s(a, name, 60000, seconds)) < 0)
            return 1;
    }
    qsort(adv, (size_t)rounds, sizeof(double), cmp_d);
    qsort(lea, (size_t)rounds, sizeof(double), cmp_d);

    double lat[LATENCY_SAMPLES];
    for (int i = 0; i < LATENCY_SAMPLES; i++) {
        sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
        o.ttl_ms = 60000;
        sqllock_lock *l;
        if (sqllock_acquire(&l, a, name, &o) != SQLLOCK_OK)
            return 1;
        struct waiter w = {b, name, 0, 0, SQLLOCK_ESERVER, NULL};
        pthread_t th;
        if (pthread_create(&th, NULL, wait_main, &w) != 0)
            return 1;
        /* Let the waiter reach its sleep; a waiter that is late only
           makes the figure smaller, never larger. */
        while (!w.started)
            usleep(100);
        usleep(20000);
        double t0 = now_s();
        sqllock_status rs = sqllock_release(l);
        pthread_join(th, NULL);
        if (rs != SQLLOCK_OK || w.st != SQLLOCK_OK || sqllock_release(w.l) != SQLLOCK_OK)
            return 1;
        lat[i] = (w.done - t0) * 1000;
    }
    qsort(lat, LATENCY_SAMPLES, sizeof(double), cmp_d);
    printf("uncontended acquire+release on one connection (%d rounds of %.1f s, median):\n",
           rounds, seconds);
    printf("  advisory  %9.0f pairs/s\n", adv[rounds / 2]);
    printf("  lease     %9.0f pairs/s  (%.2fx advisory)\n", lea[rounds / 2],
           lea[rounds / 2] / adv[rounds / 2]);
    printf("lease waiter woken by NOTIFY (release -> acquire returns, %d samples):\n"
           "  median %.2f ms, p90 %.2f ms, max %.2f ms\n",
           LATENCY_SAMPLES, lat[LATENCY_SAMPLES / 2], lat[LATENCY_SAMPLES * 9 / 10],
           lat[LATENCY_SAMPLES - 1]);
    sqllock_client_free(a);
    sqllock_client_free(b);
    return 0;
}
