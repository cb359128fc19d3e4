/*
 * bench_odbc: uncontended acquire+release pairs per second through sqllock
 * over ODBC next to the same through sqllock over libpq, against one
 * server: the cost of the ODBC transport (driver manager, psqlODBC, one
 * statement per call) for the same locks. Any number of "odbc:" URLs can be
 * given, e.g. advisory locks over ODBC and mssql-applock against the
 * emulation. The sides run in turns, --rounds times for --seconds each, so
 * that a drift in the machine's speed hits all alike; medians are reported.
 * It reports and never judges: the exit status only says whether it ran.
 *
 * Usage: bench_odbc LIBPQ_URL ODBC_URL... [--rounds R] [--seconds S]
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#define MAX_SIDES 4
#define MAX_ROUNDS 51

struct side {
    const char *url;
    char label[48];
    sqllock_client *c;
    char name[64];
    double ops[MAX_ROUNDS];
};

static double now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int op(struct side *s)
{
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, s->c, s->name, NULL);
    if (st == SQLLOCK_OK)
        st = sqllock_release(l);
    if (st == SQLLOCK_OK)
        return 0;
    fprintf(stderr, "bench: %s: %s: %s\n", s->label, sqllock_status_str(st),
            sqllock_errmsg(s->c));
    return -1;
}

static double run(struct side *s, double seconds)
{
    double start = now_s(), t = start;
    long n = 0;
    while (t - start < seconds) {
        if (op(s) != 0)
            return -1;
        n++;
        t = now_s();
    }
    return (double)n / (t - start);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct side sides[MAX_SIDES];
    int n = 0, rounds = 5;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (argv[i][0] != '-' && n < MAX_SIDES) {
            memset(&sides[n], 0, sizeof(sides[n]));
            sides[n++].url = argv[i];
        } else {
            n = 0;
            break;
        }
    }
    if (n < 2 || rounds < 1 || rounds > MAX_ROUNDS || !(seconds > 0)) {
        fprintf(stderr, "usage: %s LIBPQ_URL ODBC_URL... [--rounds 1-%d] [--seconds S]\n",
                argv[0], MAX_ROUNDS);
        return 2;
    }
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        struct side *s = &sides[i];
        if (sqllock_connect(&s->c, s->url) != SQLLOCK_OK) {
            fprintf(stderr, "bench: connect %d: %s\n", i + 1, sqllock_errmsg(s->c));
            ok = 0;
            break;
        }
        snprintf(s->label, sizeof(s->label), "%s/%s", sqllock_backend_name(s->c),
                 strncmp(s->url, "odbc:", 5) == 0 ? "odbc" : "libpq");
        snprintf(s->name, sizeof(s->name), "bench:odbc:%ld:%d", (long)getpid(), i);
        for (int w = 0; w < 300 && ok; w++) /* warm up: plans, caches */
            ok = op(s) == 0;
    }
    for (int r = 0; r < rounds && ok; r++)
        for (int i = 0; i < n && ok; i++)
            ok = (sides[i].ops[r] = run(&sides[i], seconds)) >= 0;
    if (ok) {
        printf("uncontended acquire+release, 1 client per side, %d rounds of %.2f s\n\n",
               rounds, seconds);
        printf("%-24s %12s %12s %12s %10s\n", "side", "median/s", "min/s", "max/s", "vs first");
        double base = 0;
        for (int i = 0; i < n; i++) {
            qsort(sides[i].ops, (size_t)rounds, sizeof(double), cmp);
            double med = rounds % 2 ? sides[i].ops[rounds / 2]
                                    : (sides[i].ops[rounds / 2 - 1] + sides[i].ops[rounds / 2]) / 2;
            if (i == 0)
                base = med;
            printf("%-24s %12.0f %12.0f %12.0f %10.3f\n", sides[i].label, med, sides[i].ops[0],
                   sides[i].ops[rounds - 1], med / base);
        }
    }
    for (int i = 0; i < n; i++)
        sqllock_client_free(sides[i].c);
    return ok ? 0 : 1;
}
