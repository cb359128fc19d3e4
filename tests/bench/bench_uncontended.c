/*
 * bench_uncontended: how many uncontended acquire+release pairs per second
 * one connection gets through sqllock, next to a hand-written libpq loop
 * that sends the very statements sqllock sends for a try and a release,
 * prepared, with PQexecPrepared. The ratio is sqllock's overhead over the
 * least any client could do for the same work.
 *
 * The two run in turns, sqllock then libpq, for --rounds pairs of --seconds
 * each, so that a drift in the machine's speed hits both alike; the ratio is
 * taken per pair and its median reported. Output: a table for people, then
 * one JSON line for tools. It reports and never judges: the exit status only
 * says whether the benchmark could run.
 *
 * Usage: bench_uncontended CONNINFO [--rounds R] [--seconds S]
 * Environment: SQLLOCK_COMMIT, the commit recorded in the JSON line.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqllock.h>

/* The statements of sqllock's pg-advisory backend for a try and a release. */
#define TRY_SQL "SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)"
#define UNLOCK_SQL "SELECT pg_catalog.pg_advisory_unlock($1::pg_catalog.int8)"

#define MAX_ROUNDS 101
#define WARMUP_OPS 500

/* Latencies of every measured operation of one side, in nanoseconds. */
struct samples {
    int64_t *ns;
    size_t n, cap;
};

struct side {
    const char *label;
    int (*op)(struct side *s); /* one acquire+release; 0 on success */
    sqllock_client *client;    /* sqllock side */
    char name[64];
    PGconn *conn;              /* libpq side */
    char key[24];
    double ops_per_s[MAX_ROUNDS];
    struct samples lat;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int sqllock_op(struct side *s)
{
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, s->client, s->name, NULL);
    if (st == SQLLOCK_OK)
        st = sqllock_release(l);
    if (st == SQLLOCK_OK)
        return 0;
    fprintf(stderr, "bench: sqllock: %s: %s\n", sqllock_status_str(st),
            sqllock_errmsg(s->client));
    return -1;
}

/* Runs a prepared statement that must answer true. */
static int exec_true(PGconn *conn, const char *stmt, const char *key)
{
    const char *params[1] = {key};
    PGresult *r = PQexecPrepared(conn, stmt, 1, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    if (!ok)
        fprintf(stderr, "bench: libpq: %s: %s", stmt,
                PQresultStatus(r) == PGRES_TUPLES_OK ? "answered false\n" : PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

static int libpq_op(struct side *s)
{
    if (exec_true(s->conn, "bench_try", s->key) != 0)
        return -1;
    return exec_true(s->conn, "bench_unlock", s->key);
}

static int record(struct samples *sm, int64_t ns)
{
    if (sm->n == sm->cap) {
        size_t cap = sm->cap ? 2 * sm->cap : 65536;
        int64_t *p = realloc(sm->ns, cap * sizeof(*p));
        if (!p)
            return -1;
        sm->ns = p;
        sm->cap = cap;
    }
    sm->ns[sm->n++] = ns;
    return 0;
}

/* Operations per second over one run of at least `seconds`; < 0 on failure. */
static double run(struct side *s, double seconds)
{
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9), t = start;
    long count = 0;
    while (t < end) {
        int64_t t0 = t;
        if (s->op(s) != 0)
            return -1;
        t = now_ns();
        if (record(&s->lat, t - t0) != 0) {
            fprintf(stderr, "bench: out of memory\n");
            return -1;
        }
        count++;
    }
    return (double)count / ((double)(t - start) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place; returns its median. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double pct_us(const struct samples *sm, double p)
{
    size_t rank = (size_t)(p * (double)sm->n + 0.999999);
    return (double)sm->ns[rank > 0 ? rank - 1 : 0] / 1e3;
}

/* SQLLOCK_COMMIT goes into JSON unescaped, so only a plausible id is used. */
static const char *commit_id(void)
{
    static const char safe[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-";
    const char *c = getenv("SQLLOCK_COMMIT");
    if (!c || !*c || strlen(c) > 64 || strspn(c, safe) != strlen(c))
        return "unknown";
    return c;
}

static int setup(struct side *sq, struct side *pq, const char *conninfo)
{
    sqllock_status st = sqllock_connect(&sq->client, conninfo);
    if (st != SQLLOCK_OK) {
        fprintf(stderr, "bench: sqllock_connect: %s\n", sqllock_errmsg(sq->client));
        return -1;
    }
    pq->conn = PQconnectdb(conninfo);
    if (!pq->conn || PQstatus(pq->conn) != CONNECTION_OK) {
        fprintf(stderr, "bench: PQconnectdb: %s",
                pq->conn ? PQerrorMessage(pq->conn) : "out of memory\n");
        return -1;
    }
    const char *sql[2] = {TRY_SQL, UNLOCK_SQL}, *names[2] = {"bench_try", "bench_unlock"};
    for (int i = 0; i < 2; i++) {
        PGresult *r = PQprepare(pq->conn, names[i], sql[i], 0, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            fprintf(stderr, "bench: PQprepare: %s", PQerrorMessage(pq->conn));
            return -1;
        }
    }
    /* Names of this process's own, so that concurrent runs never contend. */
    long pid = (long)getpid();
    snprintf(sq->name, sizeof(sq->name), "bench:uncontended:%ld", pid);
    char base[64];
    snprintf(base, sizeof(base), "bench:uncontended-baseline:%ld", pid);
    snprintf(pq->key, sizeof(pq->key), "%lld", (long long)sqllock_advisory_key(base));

    /* Warm both up (caches, plans) outside the measurement. */
    for (int i = 0; i < WARMUP_OPS; i++)
        if (sq->op(sq) != 0 || pq->op(pq) != 0)
            return -1;
    return 0;
}

static int parse_args(int argc, char **argv, const char **conninfo, int *rounds,
                      double *seconds)
{
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MAX_ROUNDS)
                return -1;
            *rounds = (int)v;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            *seconds = strtod(argv[++i], &end);
            if (*end || !(*seconds >= 0.01 && *seconds <= 3600))
                return -1;
        } else if (argv[i][0] != '-' && !*conninfo) {
            *conninfo = argv[i];
        } else {
            return -1;
        }
    }
    return *conninfo ? 0 : -1;
}

static void report(struct side *sq, struct side *pq, int rounds, double seconds,
                   const char *transport, const char *backend)
{
    double ratio[MAX_ROUNDS];
    printf("uncontended acquire+release, 1 client, %s socket, %d pairs of %.2f s runs\n\n",
           transport, rounds, seconds);
    printf("pair   sqllock ops/s   libpq ops/s   ratio\n");
    for (int i = 0; i < rounds; i++) {
        ratio[i] = sq->ops_per_s[i] / pq->ops_per_s[i];
        printf("%4d   %13.0f   %11.0f   %5.3f\n", i + 1, sq->ops_per_s[i], pq->ops_per_s[i],
               ratio[i]);
    }
    double msq = median(sq->ops_per_s, rounds), mpq = median(pq->ops_per_s, rounds);
    double mratio = median(ratio, rounds);
    printf("\n           median        min        max\n");
    printf("sqllock  %8.0f   %8.0f   %8.0f  ops/s\n", msq, sq->ops_per_s[0],
           sq->ops_per_s[rounds - 1]);
    printf("libpq    %8.0f   %8.0f   %8.0f  ops/s\n", mpq, pq->ops_per_s[0],
           pq->ops_per_s[rounds - 1]);
    printf("ratio    %8.3f   %8.3f   %8.3f  (sqllock / libpq, per pair)\n\n", mratio, ratio[0],
           ratio[rounds - 1]);

    printf("latency of one acquire+release     p50        p99\n");
    struct side *sides[2] = {sq, pq};
    for (int i = 0; i < 2; i++) {
        struct samples *sm = &sides[i]->lat;
        qsort(sm->ns, sm->n, sizeof(*sm->ns), cmp_i64);
        printf("%-8s (%8zu ops)        %7.1f us  %7.1f us\n", sides[i]->label, sm->n,
               pct_us(sm, 0.50), pct_us(sm, 0.99));
    }

    char date[32];
    time_t t = time(NULL);
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(date, sizeof(date), "unknown");
    printf("{\"scenario\":\"uncontended\",\"backend\":\"%s\",\"transport\":\"%s\","
           "\"clients\":1,\"ops_per_s\":%.0f,\"baseline\":\"libpq-prepared\","
           "\"baseline_ops_per_s\":%.0f,\"ratio\":%.3f,\"commit\":\"%s\",\"date\":\"%s\"}\n",
           backend, transport, msq, mpq, mratio, commit_id(), date);
}

int main(int argc, char **argv)
{
    const char *conninfo = NULL;
    int rounds = 7;
    double seconds = 1.0;
    if (parse_args(argc, argv, &conninfo, &rounds, &seconds) != 0) {
        fprintf(stderr, "usage: %s CONNINFO [--rounds 1-%d] [--seconds S]\n", argv[0],
                MAX_ROUNDS);
        return 2;
    }

    struct side sq = {.label = "sqllock", .op = sqllock_op};
    struct side pq = {.label = "libpq", .op = libpq_op};
    int ok = setup(&sq, &pq, conninfo) == 0;
    for (int i = 0; ok && i < rounds; i++)
        ok = (sq.ops_per_s[i] = run(&sq, seconds)) >= 0 &&
             (pq.ops_per_s[i] = run(&pq, seconds)) >= 0;
    if (ok) {
        /* Both connections come from one conninfo, so they share a transport:
           libpq names a Unix socket by its directory. */
        const char *host = PQhost(pq.conn);
        const char *transport = !host || !*host || host[0] == '/' || host[0] == '@' ? "unix"
                                                                                     : "tcp";
        report(&sq, &pq, rounds, seconds, transport, sqllock_backend_name(sq.client));
    }
    sqllock_client_free(sq.client);
    PQfinish(pq.conn);
    free(sq.lat.ns);
    free(pq.lat.ns);
    if (ok && fflush(stdout) != 0)
        ok = 0;
    return ok ? 0 : 1;
}
